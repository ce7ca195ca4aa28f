//! The enumerations of a service model as Rust enums, each value spelled exactly as on the wire.
//!
//! Rust names are the model's shape names, variants are the values in Rust case
//! (`SYMMETRIC_DEFAULT` is `SymmetricDefault`, `tag-key` is `TagKey`). Values outside the set
//! never reach these types: the codec answers them with AWS's `ValidationException` first.

/// Declares wire enums: `Name { Variant = "WIRE_VALUE", … }`, each with `ALL` (the model's
/// order), `as_str`, `from_wire`, `Display` and serde under the wire spelling.
macro_rules! wire_enums {
    ($($name:ident { $($variant:ident = $wire:literal,)+ })+) => {$(
        #[doc = concat!("The wire values of `", stringify!($name), "`.")]
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize,
        )]
        pub enum $name {
            $(
                #[doc = concat!("`", $wire, "`")]
                #[serde(rename = $wire)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in the model's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }

            /// The value spelled as on the wire, if it is one.
            pub fn from_wire(value: &str) -> Option<Self> {
                match value {
                    $($wire => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

pub(crate) use wire_enums;
