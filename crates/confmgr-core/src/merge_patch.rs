//! JSON merge patch (RFC 7396), as used by KV v2 `PATCH`.

use serde_json::{Map, Value};

pub fn apply(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, patch_value) in patch {
        match patch_value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(patch_object) => {
                let entry = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(target_object) = entry {
                    apply(target_object, patch_object);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn rfc7396_examples() {
        let mut target = object(json!({"a": "b", "c": {"d": "e", "f": "g"}, "keep": 1}));
        apply(
            &mut target,
            &object(json!({"a": "z", "c": {"f": null}, "n": {"x": 1}})),
        );
        assert_eq!(
            Value::Object(target),
            json!({"a": "z", "c": {"d": "e"}, "keep": 1, "n": {"x": 1}})
        );
        let mut target = object(json!({"a": [1, 2], "b": "x"}));
        apply(&mut target, &object(json!({"a": [3], "b": {"y": null}})));
        assert_eq!(Value::Object(target), json!({"a": [3], "b": {}}));
    }
}
