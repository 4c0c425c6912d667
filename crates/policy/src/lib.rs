//! Key policies and identity policies in the IAM JSON grammar: parse, validate, evaluate, as AWS
//! KMS does. A pure library: no I/O.
//!
//! - [`Policy::parse_key_policy`] / [`Policy::parse_identity_policy`] / [`Policy::parse`] read a
//!   document (≤ [`MAX_POLICY_BYTES`]) and compile it: action patterns, dates, numbers and CIDR
//!   blocks are parsed once, so evaluation parses nothing. A [`PolicyError`] says where a document
//!   is wrong and maps to `MalformedPolicyDocumentException`.
//! - [`Policy::evaluate`] decides one policy against a [`RequestContext`]; [`authorize`] combines a
//!   key policy with the caller's identity policies (explicit deny wins; a key policy naming the
//!   account root delegates to identity policies; cross-account needs both).
//! - [`Policy::to_json`] writes a policy back; [`default_key_policy`] builds AWS's default;
//!   [`Policy::allows_put_key_policy`] is the lockout safety check.
//!
//! ```
//! use coffer_policy::{authorize, Decision, Policy, RequestContext};
//!
//! let key_policy = Policy::parse_key_policy(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [{
//!     "Sid": "AllowUseViaS3",
//!     "Effect": "Allow",
//!     "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"},
//!     "Action": ["kms:Encrypt", "kms:Decrypt"],
//!     "Resource": "*",
//!     "Condition": {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}
//!   }]
//! }"#)?;
//! let key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
//! let mut ctx = RequestContext::new(
//!     "kms:Encrypt", key, "arn:aws:iam::111122223333:user/alice", "111122223333");
//! assert_eq!(key_policy.evaluate(&ctx).decision, Decision::ImplicitDeny);
//! ctx.via_service = Some("s3.us-east-1.amazonaws.com");
//! let auth = authorize(&key_policy, "111122223333", [], &ctx);
//! assert_eq!(auth.decision, Decision::Allow);
//! assert_eq!(auth.decided_by.unwrap().1.sid, Some("AllowUseViaS3"));
//! # Ok::<(), coffer_policy::PolicyError>(())
//! ```
#![forbid(unsafe_code)]

mod condition;
mod context;
mod date;
mod default;
mod error;
mod eval;
mod glob;
mod ip;
mod model;
mod parse;
mod serialize;

pub use condition::OPERATOR_NAMES;
pub use context::{RequestContext, EXTRA_CONDITION_KEYS};
pub use default::{default_key_policy, default_key_policy_json, DEFAULT_KEY_POLICY_SID};
pub use error::{Location, PolicyError, Problem, MALFORMED_POLICY_DOCUMENT};
pub use eval::{
    authorize, Authorization, Decision, Evaluation, PolicySource, Reason, StatementRef,
};
pub use model::{Effect, Policy, PrincipalMatch, MAX_POLICY_BYTES};
