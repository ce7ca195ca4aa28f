//! The enumerations of the Secrets Manager model, each value spelled exactly as on the wire.
//!
//! Rust names are the model's shape names, variants are the values in Rust case (`tag-key` is
//! `TagKey`, `InSync` stays `InSync`). Values outside the set never reach these types: the codec
//! answers them with AWS's `ValidationException` first.

use crate::json::wire_enums;

wire_enums! {
    FilterNameStringType {
        Description = "description",
        Name = "name",
        TagKey = "tag-key",
        TagValue = "tag-value",
        PrimaryRegion = "primary-region",
        OwningService = "owning-service",
        All = "all",
    }
    SortByType {
        CreatedDate = "created-date",
        LastAccessedDate = "last-accessed-date",
        LastChangedDate = "last-changed-date",
        Name = "name",
    }
    SortOrderType {
        Asc = "asc",
        Desc = "desc",
    }
    StatusType {
        InSync = "InSync",
        Failed = "Failed",
        InProgress = "InProgress",
    }
}
