#![no_main]
//! The repeated-member walk (`coffer_core::UniqueKeys`): never panics or overflows the stack on
//! any input; it accepts a JSON document exactly when every object in it names each member
//! once (checked against serde_json's own map, which keeps one of two equal members).
use coffer_core::UniqueKeys;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Whether some object in `text` repeats a member: count members as written (a raw-value walk)
/// against the members serde_json's `Value` kept.
fn members_written(v: &serde_json::Map<String, Value>) -> usize {
    v.len()
}

fn kept(v: &Value) -> usize {
    match v {
        Value::Object(m) => members_written(m) + m.values().map(kept).sum::<usize>(),
        Value::Array(a) => a.iter().map(kept).sum(),
        _ => 0,
    }
}

/// Members as written, counted with serde_json's streaming parser into a list of pairs.
fn written(text: &str) -> Option<usize> {
    #[derive(Default)]
    struct Count(usize);
    impl<'de> serde::Deserialize<'de> for Count {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Count;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("any")
                }
                fn visit_bool<E>(self, _: bool) -> Result<Count, E> {
                    Ok(Count(0))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Count, E> {
                    Ok(Count(0))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Count, E> {
                    Ok(Count(0))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Count, E> {
                    Ok(Count(0))
                }
                fn visit_str<E>(self, _: &str) -> Result<Count, E> {
                    Ok(Count(0))
                }
                fn visit_unit<E>(self) -> Result<Count, E> {
                    Ok(Count(0))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut s: A,
                ) -> Result<Count, A::Error> {
                    let mut n = 0;
                    while let Some(Count(c)) = s.next_element()? {
                        n += c;
                    }
                    Ok(Count(n))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Count, A::Error> {
                    let mut n = 0;
                    while let Some((_, Count(c))) = m.next_entry::<String, Count>()? {
                        n += 1 + c;
                    }
                    Ok(Count(n))
                }
            }
            d.deserialize_any(V)
        }
    }
    serde_json::from_str::<Count>(text).ok().map(|c| c.0)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let verdict = serde_json::from_str::<UniqueKeys>(text).is_ok();
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        assert!(!verdict, "accepted text that is not JSON");
        return;
    };
    let Some(n) = written(text) else { return };
    assert_eq!(verdict, n == kept(&value), "{text}");
});
