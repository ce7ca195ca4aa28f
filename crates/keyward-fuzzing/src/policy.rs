//! Policy documents: parsing and evaluation against a request. The input is five lines of
//! request, then the document:
//!
//! ```text
//! resource                                         (identity | resource | trust)
//! kms:Decrypt                                      (the action)
//! arn:aws:kms:us-east-1:111122223333:key/...       (the resource)
//! arn:aws:iam::111122223333:user/alice             (the caller; no `arn:` means a service)
//! aws:SourceIp=10.0.0.1;kms:ViaService=s3.amazonaws.com   (condition keys)
//! { "Version": "2012-10-17", "Statement": [...] }
//! ```
//!
//! Properties: parsing is deterministic and refuses with a message; one document's verdict
//! and `authorize`'s agree the way AWS's evaluation logic says they must.

use keyward_core::policy::{
    authorize, check_key_policy, CallerPrincipal, ConditionKeys, Decision, Outcome, PolicyDocument,
    PolicyError, PolicyKind, RequestContext, ResourceMode,
};

use crate::input::{pairs, split_lines};

/// Parses the document and evaluates it against the request.
pub fn policy(data: &[u8]) {
    let ([kind, action, resource, caller, keys], document) = split_lines::<5>(data);
    let kind = match kind {
        b"identity" => PolicyKind::Identity,
        b"trust" => PolicyKind::Trust,
        _ => PolicyKind::Resource,
    };
    let Ok(document) = std::str::from_utf8(document) else {
        return;
    };
    // KMS's own pre-check of a stored key policy: any answer, no panic.
    let _ = check_key_policy(document);
    let parsed = PolicyDocument::parse(document, kind);
    assert_eq!(
        parsed,
        PolicyDocument::parse(document, kind),
        "deterministic"
    );
    let doc = match parsed {
        Ok(doc) => doc,
        Err(PolicyError::Malformed(message)) => {
            assert!(!message.is_empty());
            return;
        }
    };
    assert_eq!(doc.kind(), kind);

    let action = String::from_utf8_lossy(action);
    let resource = String::from_utf8_lossy(resource);
    let caller = String::from_utf8_lossy(caller);
    let mut condition_keys = ConditionKeys::new();
    for (name, value) in pairs(keys) {
        condition_keys.insert(&name, value);
    }
    let (account, service) = match caller.strip_prefix("arn:") {
        Some(arn) => (arn.split(':').nth(3).unwrap_or_default(), None),
        None => ("", Some(caller.as_ref())),
    };
    let is_root = service.is_none() && caller.ends_with(":root");
    let principal = CallerPrincipal {
        account,
        arn: &caller,
        role_arn: None,
        service,
        is_root,
    };
    let ctx = RequestContext {
        principal,
        action: &action,
        resource: &resource,
        keys: &condition_keys,
    };
    check_verdicts(&doc, &ctx);
}

fn check_verdicts(doc: &PolicyDocument, ctx: &RequestContext<'_>) {
    let evaluation = doc.evaluate(ctx);
    assert_eq!(evaluation, doc.evaluate(ctx), "deterministic");
    if evaluation.allow_via_account_only {
        assert_eq!(evaluation.decision, Decision::Allow);
    }
    if doc.kind() == PolicyKind::Identity {
        // An identity document is evaluated the same way alone and as the caller's policy.
        let outcome = authorize(ctx, &[doc], None, ResourceMode::Optional);
        let expected = match evaluation.decision {
            Decision::ExplicitDeny => Outcome::ExplicitDenyIdentity,
            Decision::Allow => Outcome::Allow,
            Decision::NotApplicable if ctx.principal.is_root => Outcome::Allow,
            Decision::NotApplicable => Outcome::NoIdentityAllow,
        };
        assert_eq!(outcome, expected);
        return;
    }
    let outcome = authorize(ctx, &[], Some(doc), ResourceMode::Required);
    let expected = match evaluation.decision {
        Decision::ExplicitDeny => Outcome::ExplicitDenyResource,
        Decision::Allow if !evaluation.allow_via_account_only || ctx.principal.is_root => {
            Outcome::Allow
        }
        Decision::Allow => Outcome::NoIdentityAllow,
        Decision::NotApplicable => Outcome::NoResourceAllow,
    };
    assert_eq!(outcome, expected);
    // An explicit deny in the resource policy wins over whatever identity policies say.
    if evaluation.decision == Decision::ExplicitDeny {
        let outcome = authorize(ctx, &[], Some(doc), ResourceMode::Optional);
        assert_eq!(outcome, Outcome::ExplicitDenyResource);
    }
}
