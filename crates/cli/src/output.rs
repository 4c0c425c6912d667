//! What the commands print: the AWS response shapes as JSON, and tables made from them.

use std::collections::HashMap;
use std::io::Write;

use aws_sdk_kms::primitives::{DateTime, DateTimeFormat};
use aws_sdk_kms::types::{
    AliasListEntry, GrantListEntry, KeyListEntry, KeyMetadata, RotationsListEntry, Tag,
};
use serde_json::{Map, Value};

use crate::failure::Failure;

/// A JSON object built field by field in the AWS names; absent fields are left out.
#[derive(Debug, Default)]
pub(crate) struct Obj(Map<String, Value>);

impl Obj {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn s(mut self, k: &str, v: Option<&str>) -> Self {
        if let Some(v) = v {
            self.0.insert(k.to_owned(), Value::from(v));
        }
        self
    }

    pub(crate) fn b(mut self, k: &str, v: Option<bool>) -> Self {
        if let Some(v) = v {
            self.0.insert(k.to_owned(), Value::from(v));
        }
        self
    }

    pub(crate) fn i(mut self, k: &str, v: Option<i32>) -> Self {
        if let Some(v) = v {
            self.0.insert(k.to_owned(), Value::from(v));
        }
        self
    }

    pub(crate) fn t(self, k: &str, v: Option<&DateTime>) -> Self {
        let text = v.map(date);
        self.s(k, text.as_deref())
    }

    /// A list of enum values (anything with `as_str`, given as strings).
    pub(crate) fn l<'a>(mut self, k: &str, v: Option<impl Iterator<Item = &'a str>>) -> Self {
        if let Some(v) = v {
            self.0
                .insert(k.to_owned(), Value::from(v.collect::<Vec<_>>()));
        }
        self
    }

    pub(crate) fn m(mut self, k: &str, v: Option<&HashMap<String, String>>) -> Self {
        if let Some(v) = v {
            let map: Map<String, Value> = v
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            self.0.insert(k.to_owned(), Value::Object(map));
        }
        self
    }

    pub(crate) fn v(mut self, k: &str, v: Value) -> Self {
        self.0.insert(k.to_owned(), v);
        self
    }

    pub(crate) fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// A timestamp as RFC 3339 (`2026-01-02T03:04:05.678Z`).
pub(crate) fn date(d: &DateTime) -> String {
    d.fmt(DateTimeFormat::DateTime)
        .unwrap_or_else(|_| d.secs().to_string())
}

pub(crate) fn key_metadata(m: &KeyMetadata) -> Value {
    #[allow(deprecated)]
    let cmk_spec = m.customer_master_key_spec.as_ref().map(|s| s.as_str());
    Obj::new()
        .s("AWSAccountId", m.aws_account_id.as_deref())
        .s("KeyId", Some(&m.key_id))
        .s("Arn", m.arn.as_deref())
        .t("CreationDate", m.creation_date.as_ref())
        .b("Enabled", Some(m.enabled))
        .s("Description", m.description.as_deref())
        .s("KeyUsage", m.key_usage.as_ref().map(|x| x.as_str()))
        .s("KeyState", m.key_state.as_ref().map(|x| x.as_str()))
        .t("DeletionDate", m.deletion_date.as_ref())
        .t("ValidTo", m.valid_to.as_ref())
        .s("Origin", m.origin.as_ref().map(|x| x.as_str()))
        .s("CustomKeyStoreId", m.custom_key_store_id.as_deref())
        .s("CloudHsmClusterId", m.cloud_hsm_cluster_id.as_deref())
        .s(
            "ExpirationModel",
            m.expiration_model.as_ref().map(|x| x.as_str()),
        )
        .s("KeyManager", m.key_manager.as_ref().map(|x| x.as_str()))
        .s("CustomerMasterKeySpec", cmk_spec)
        .s("KeySpec", m.key_spec.as_ref().map(|x| x.as_str()))
        .l(
            "EncryptionAlgorithms",
            m.encryption_algorithms
                .as_ref()
                .map(|v| v.iter().map(|x| x.as_str())),
        )
        .l(
            "SigningAlgorithms",
            m.signing_algorithms
                .as_ref()
                .map(|v| v.iter().map(|x| x.as_str())),
        )
        .l(
            "KeyAgreementAlgorithms",
            m.key_agreement_algorithms
                .as_ref()
                .map(|v| v.iter().map(|x| x.as_str())),
        )
        .l(
            "EncapsulationAlgorithms",
            m.encapsulation_algorithms
                .as_ref()
                .map(|v| v.iter().map(|x| x.as_str())),
        )
        .l(
            "MacAlgorithms",
            m.mac_algorithms
                .as_ref()
                .map(|v| v.iter().map(|x| x.as_str())),
        )
        .b("MultiRegion", m.multi_region)
        .i(
            "PendingDeletionWindowInDays",
            m.pending_deletion_window_in_days,
        )
        .s("CurrentKeyMaterialId", m.current_key_material_id.as_deref())
        .done()
}

pub(crate) fn key_list_entry(k: &KeyListEntry) -> Value {
    Obj::new()
        .s("KeyId", k.key_id.as_deref())
        .s("KeyArn", k.key_arn.as_deref())
        .done()
}

pub(crate) fn alias_list_entry(a: &AliasListEntry) -> Value {
    Obj::new()
        .s("AliasName", a.alias_name.as_deref())
        .s("AliasArn", a.alias_arn.as_deref())
        .s("TargetKeyId", a.target_key_id.as_deref())
        .t("CreationDate", a.creation_date.as_ref())
        .t("LastUpdatedDate", a.last_updated_date.as_ref())
        .done()
}

pub(crate) fn tag(t: &Tag) -> Value {
    Obj::new()
        .s("TagKey", Some(&t.tag_key))
        .s("TagValue", Some(&t.tag_value))
        .done()
}

pub(crate) fn grant_list_entry(g: &GrantListEntry) -> Value {
    let constraints = g.constraints.as_ref().map(|c| {
        Obj::new()
            .m(
                "EncryptionContextSubset",
                c.encryption_context_subset.as_ref(),
            )
            .m(
                "EncryptionContextEquals",
                c.encryption_context_equals.as_ref(),
            )
            .s("SourceArn", c.source_arn.as_deref())
            .done()
    });
    let mut o = Obj::new()
        .s("KeyId", g.key_id.as_deref())
        .s("GrantId", g.grant_id.as_deref())
        .s("Name", g.name.as_deref())
        .t("CreationDate", g.creation_date.as_ref())
        .s("GranteePrincipal", g.grantee_principal.as_deref())
        .s("RetiringPrincipal", g.retiring_principal.as_deref())
        .s("IssuingAccount", g.issuing_account.as_deref())
        .l(
            "Operations",
            g.operations.as_ref().map(|v| v.iter().map(|x| x.as_str())),
        );
    if let Some(c) = constraints {
        o = o.v("Constraints", c);
    }
    o.done()
}

pub(crate) fn rotation(r: &RotationsListEntry) -> Value {
    Obj::new()
        .s("KeyId", r.key_id.as_deref())
        .s("KeyMaterialId", r.key_material_id.as_deref())
        .s(
            "KeyMaterialDescription",
            r.key_material_description.as_deref(),
        )
        .s("ImportState", r.import_state.as_ref().map(|x| x.as_str()))
        .s(
            "KeyMaterialState",
            r.key_material_state.as_ref().map(|x| x.as_str()),
        )
        .s(
            "ExpirationModel",
            r.expiration_model.as_ref().map(|x| x.as_str()),
        )
        .t("ValidTo", r.valid_to.as_ref())
        .t("RotationDate", r.rotation_date.as_ref())
        .s("RotationType", r.rotation_type.as_ref().map(|x| x.as_str()))
        .done()
}

/// A JSON value's text in a table cell: strings bare, lists comma-separated, objects as JSON.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// An object's fields as a two-column table, in `order` first, then the rest by name.
pub(crate) fn fields(v: &Value, order: &[&str]) -> String {
    let Some(obj) = v.as_object() else {
        return cell(v);
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for k in order {
        if let Some(x) = obj.get(*k) {
            rows.push(vec![(*k).to_owned(), cell(x)]);
        }
    }
    for (k, x) in obj {
        if !order.contains(&k.as_str()) {
            rows.push(vec![k.clone(), cell(x)]);
        }
    }
    columns(&rows)
}

/// Rows of `columns` taken from objects by field name, under a header line.
pub(crate) fn table(items: &[Value], cols: &[(&str, &str)]) -> String {
    let mut rows = vec![cols.iter().map(|(h, _)| (*h).to_owned()).collect()];
    for it in items {
        rows.push(
            cols.iter()
                .map(|(_, f)| it.get(*f).map(cell).unwrap_or_default())
                .collect(),
        );
    }
    columns(&rows)
}

/// Left-aligned columns two spaces apart (the last not padded), one line per row.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; n];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 < r.len() {
                line.push_str(&format!("{c:<w$}  ", w = widths[i]));
            } else {
                line.push_str(c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Writes `text` on stdout.
pub(crate) fn emit(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| Failure::io("stdout", &e))
}

/// Writes `v` as pretty JSON and a newline on stdout.
pub(crate) fn emit_json(v: &Value) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    emit(&format!("{text}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn columns_align_and_do_not_pad_the_last() {
        let t = table(
            &[
                json!({"A": "x", "B": "yy"}),
                json!({"A": "longer", "B": ["p", "q"]}),
            ],
            &[("COL A", "A"), ("B", "B")],
        );
        assert_eq!(t, "COL A   B\nx       yy\nlonger  p, q\n");
    }

    #[test]
    fn fields_in_order_then_by_name() {
        let t = fields(&json!({"Z": 1, "KeyId": "k", "A": true}), &["KeyId"]);
        assert_eq!(t, "KeyId  k\nA      true\nZ      1\n");
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(date(&DateTime::from_secs(0)), "1970-01-01T00:00:00Z");
    }
}
