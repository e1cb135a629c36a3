//! Conversion between `serde_json::Value` and `rhai::Dynamic`.
//!
//! Hand-written rather than going through serde so that the mapping is
//! exact and cheap: integers stay integers (`i64`), other numbers become
//! floats, null is `()` and back, strings, arrays and maps map one to one.
//! Rhai maps are sorted by key, so an object that went through a script
//! comes back with its keys in alphabetical order.

use rhai::{Array, Dynamic, Map};
use serde_json::{Map as JsonMap, Number, Value};

/// Values built by a script may nest deeper than any JSON document Roster
/// reads (serde_json stops at 128 levels); converting them recursively
/// could overflow the stack, so conversion refuses past this depth.
const MAX_DEPTH: usize = 128;

/// Converts a JSON value into its Rhai form.
pub(crate) fn to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => number_to_dynamic(n),
        Value::String(s) => Dynamic::from(rhai::ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect::<Array>()),
        Value::Object(fields) => Dynamic::from_map(
            fields
                .iter()
                .map(|(k, v)| (k.as_str().into(), to_dynamic(v)))
                .collect::<Map>(),
        ),
    }
}

fn number_to_dynamic(n: &Number) -> Dynamic {
    if let Some(i) = n.as_i64() {
        Dynamic::from_int(i)
    } else {
        // Integers beyond i64 and all non-integers become floats, the only
        // other number type Rhai has.
        Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Converts a Rhai value into JSON. Fails for values JSON cannot hold
/// (function pointers, timestamps, custom types) and for absurd nesting.
pub(crate) fn to_value(value: Dynamic) -> Result<Value, String> {
    convert(value, 0)
}

fn convert(value: Dynamic, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("value is nested deeper than {MAX_DEPTH} levels"));
    }
    let value = value.flatten();
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.as_float() {
        // NaN and infinities have no JSON form; null is what serde_json
        // itself produces for them.
        return Ok(Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if value.is_string() {
        let s = value
            .into_immutable_string()
            .map_err(|t| format!("unexpected {t}"))?;
        return Ok(Value::String(s.to_string()));
    }
    if value.is_array() {
        let items = value.into_array().map_err(|t| format!("unexpected {t}"))?;
        return items
            .into_iter()
            .map(|v| convert(v, depth + 1))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if value.is_blob() {
        let bytes = value.into_blob().map_err(|t| format!("unexpected {t}"))?;
        return Ok(Value::Array(bytes.into_iter().map(Value::from).collect()));
    }
    let type_name = value.type_name();
    if let Some(map) = value.try_cast::<Map>() {
        let mut out = JsonMap::with_capacity(map.len());
        for (k, v) in map {
            out.insert(k.to_string(), convert(v, depth + 1)?);
        }
        return Ok(Value::Object(out));
    }
    Err(format!(
        "a value of type '{type_name}' cannot be converted to JSON"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_rhai_with_integers_kept_as_integers() {
        let v = json!({"a": 1, "b": 1.5, "c": null, "d": [true, "x"], "e": {"f": -7}});
        let d = to_dynamic(&v);
        assert!(d.is_map());
        assert_eq!(to_value(d).unwrap(), v);
        assert!(to_dynamic(&json!(3)).is_int());
        assert!(to_dynamic(&json!(3.0)).is_float());
        assert!(to_dynamic(&json!(u64::MAX)).is_float());
    }

    #[test]
    fn rhai_only_values_convert_or_fail_clearly() {
        assert_eq!(to_value(Dynamic::from('x')).unwrap(), json!("x"));
        assert_eq!(
            to_value(Dynamic::from_float(f64::NAN)).unwrap(),
            Value::Null
        );
        let err = to_value(Dynamic::from(std::time::Instant::now())).unwrap_err();
        assert!(err.contains("cannot be converted to JSON"), "{err}");
        let mut deep = Dynamic::UNIT;
        for _ in 0..200 {
            deep = Dynamic::from_array(vec![deep]);
        }
        assert!(to_value(deep).unwrap_err().contains("nested deeper"));
    }
}
