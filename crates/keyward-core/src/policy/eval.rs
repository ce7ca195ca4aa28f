//! Evaluation: one document against one request, and `authorize`, which combines a
//! caller's identity policies with the resource's policy as AWS does for a caller in
//! the resource's own account.

use super::condition::ConditionKeys;
use super::document::{Effect, PolicyDocument, PolicyKind, Statement};
use super::principal::PrincipalMatch;

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallerPrincipal<'a> {
    /// `111122223333`.
    pub account: &'a str,
    /// A user (`arn:aws:iam::111122223333:user/alice`), the account root
    /// (`arn:aws:iam::111122223333:root`), or an assumed-role session
    /// (`arn:aws:sts::111122223333:assumed-role/loadtest/sess`).
    pub arn: &'a str,
    /// For an assumed-role session, the role's ARN, path included
    /// (`arn:aws:iam::111122223333:role/loadtest`): a policy naming the role names all
    /// its sessions.
    pub role_arn: Option<&'a str>,
    /// When the caller is an AWS service (`lambda.amazonaws.com`), as in a trust policy.
    pub service: Option<&'a str>,
    pub is_root: bool,
}

/// One request, as policies see it.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    pub principal: CallerPrincipal<'a>,
    /// `kms:Decrypt`, `secretsmanager:GetSecretValue`, `sts:AssumeRole`.
    pub action: &'a str,
    /// The ARN of the resource acted on.
    pub resource: &'a str,
    pub keys: &'a ConditionKeys,
}

/// What one document says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ExplicitDeny,
    /// No statement applies: an implicit deny, unless another document allows.
    NotApplicable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// The document allows, but only through an account principal (`"AWS":
    /// "111122223333"` or the account's root ARN): the account has delegated the decision
    /// to its identity policies.
    pub allow_via_account_only: bool,
}

/// Whether the resource must have a policy that allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceMode {
    /// KMS keys and role trust: nothing is allowed unless the key (trust) policy allows.
    Required,
    /// Secrets Manager: a secret may have no resource policy; identity policies suffice.
    Optional,
}

/// The combined verdict, naming which side denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allow,
    ExplicitDenyIdentity,
    ExplicitDenyResource,
    /// Identity policies were needed (the resource policy allows only the account, or
    /// there is none) and none allows.
    NoIdentityAllow,
    /// A required resource policy does not allow.
    NoResourceAllow,
}

impl Outcome {
    pub fn is_allowed(self) -> bool {
        self == Outcome::Allow
    }
}

impl PolicyDocument {
    /// Evaluates this document alone. In resource and trust policies a statement applies
    /// only to the callers its `Principal` names (or its `NotPrincipal` does not); an
    /// explicit deny in any applicable statement wins over every allow.
    pub fn evaluate(&self, ctx: &RequestContext<'_>) -> Evaluation {
        self.evaluate_with(ctx, self.kind != PolicyKind::Identity)
    }

    fn evaluate_with(&self, ctx: &RequestContext<'_>, check_principal: bool) -> Evaluation {
        let mut best = PrincipalMatch::None;
        for statement in &self.statements {
            let matched = statement_match(statement, ctx, check_principal);
            match (matched, statement.effect) {
                (PrincipalMatch::None, _) => {}
                (_, Effect::Deny) => {
                    return Evaluation {
                        decision: Decision::ExplicitDeny,
                        allow_via_account_only: false,
                    }
                }
                (matched, Effect::Allow) => best = best.max(matched),
            }
        }
        Evaluation {
            decision: if best == PrincipalMatch::None {
                Decision::NotApplicable
            } else {
                Decision::Allow
            },
            allow_via_account_only: best == PrincipalMatch::Account,
        }
    }
}

/// How a statement applies to the request: `None` when it does not, otherwise how its
/// principal names the caller (`Specific` when principals are not checked).
fn statement_match(
    statement: &Statement,
    ctx: &RequestContext<'_>,
    check_principal: bool,
) -> PrincipalMatch {
    // Cheapest and most selective first.
    if !statement.actions.matches(ctx.action, true, ctx.keys) {
        return PrincipalMatch::None;
    }
    let matched = match (&statement.principal, check_principal) {
        (Some(principal), true) => principal.match_caller(&ctx.principal),
        _ => PrincipalMatch::Specific,
    };
    if matched == PrincipalMatch::None {
        return PrincipalMatch::None;
    }
    let resource_matches = statement
        .resources
        .as_ref()
        .is_none_or(|r| r.matches(ctx.resource, false, ctx.keys));
    if resource_matches && statement.conditions.iter().all(|c| c.evaluate(ctx.keys)) {
        matched
    } else {
        PrincipalMatch::None
    }
}

/// AWS's evaluation for a caller in the resource's own account:
/// 1. an explicit deny in any identity policy, then in the resource policy, denies;
/// 2. a resource policy that names the caller specifically (user, role, session,
///    service, `*`) allows on its own;
/// 3. a resource policy that names only the caller's account delegates to IAM: the
///    account root is allowed, anyone else needs an identity policy that allows;
/// 4. otherwise `Required` (KMS) denies, and `Optional` (Secrets Manager) allows when
///    identity policies allow — the account root's identity implicitly allows all.
///
/// Identity documents are evaluated without regard to principals, whatever their kind.
pub fn authorize(
    ctx: &RequestContext<'_>,
    identity: &[&PolicyDocument],
    resource: Option<&PolicyDocument>,
    mode: ResourceMode,
) -> Outcome {
    let identity: Vec<Evaluation> = identity
        .iter()
        .map(|doc| doc.evaluate_with(ctx, false))
        .collect();
    if identity
        .iter()
        .any(|e| e.decision == Decision::ExplicitDeny)
    {
        return Outcome::ExplicitDenyIdentity;
    }
    let resource = resource.map(|doc| doc.evaluate(ctx));
    if resource.is_some_and(|e| e.decision == Decision::ExplicitDeny) {
        return Outcome::ExplicitDenyResource;
    }
    let identity_allows =
        ctx.principal.is_root || identity.iter().any(|e| e.decision == Decision::Allow);
    let resource_allow = resource.filter(|e| e.decision == Decision::Allow);
    match (mode, resource_allow) {
        (_, Some(e)) if !e.allow_via_account_only => Outcome::Allow,
        (_, Some(_)) | (ResourceMode::Optional, None) if identity_allows => Outcome::Allow,
        (_, Some(_)) | (ResourceMode::Optional, None) => Outcome::NoIdentityAllow,
        (ResourceMode::Required, None) => Outcome::NoResourceAllow,
    }
}
