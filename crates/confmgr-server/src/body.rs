//! JSON request bodies with Vault's leniency (an empty body is `{}`) and errors that name
//! the problem without echoing what the caller sent: the body may hold secret values.

use crate::error::Error;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = Error;

    async fn from_request(request: Request, state: &S) -> Result<Self, Error> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Error::PayloadTooLarge
                } else {
                    Error::Invalid(format!(
                        "could not read request body: {}",
                        rejection.body_text()
                    ))
                }
            })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Every body ConfMgr takes is a JSON object. serde would also fill a struct from a JSON
/// array (its fields in order), so `[["x"]]` could pass for `{"versions": ["x"]}`: anything
/// but an object is refused before it gets there.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let bytes = match first {
        None => b"{}",
        Some(b'{') => bytes,
        Some(_) => {
            return Err(Error::Invalid(
                "failed to parse JSON input: the request body must be a JSON object".into(),
            ))
        }
    };
    serde_json::from_slice(bytes).map_err(|e| Error::Invalid(describe(&e)))
}

/// serde_json quotes offending values in its messages (`invalid type: string "hunter2"`);
/// keep the shape of the complaint, drop the quoted value.
fn describe(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let redacted = match (message.find('"'), message.rfind('"')) {
        (Some(start), Some(end)) if end > start => {
            format!("{}(value hidden){}", &message[..start], &message[end + 1..])
        }
        _ => message,
    };
    format!("failed to parse JSON input: {redacted}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn empty_body_is_an_empty_object() {
        assert!(matches!(parse::<Value>(b""), Ok(Value::Object(m)) if m.is_empty()));
    }

    #[test]
    fn only_objects_are_bodies() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Versions {
            versions: Vec<i64>,
        }
        assert!(parse::<Versions>(b" {\"versions\": [1]}").is_ok());
        for body in [
            &b"[[1]]"[..],
            b"[]",
            b"null",
            b"1",
            b"\"x\"",
            b"true",
            b" [ {} ]",
        ] {
            let err = parse::<Versions>(body).unwrap_err().to_string();
            assert!(err.contains("must be a JSON object"), "{err}");
        }
    }

    #[test]
    fn errors_do_not_echo_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Cas {
            cas: i64,
        }
        let err = parse::<Cas>(br#"{"cas": "hunter2"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("failed to parse JSON input: invalid type"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse::<Value>(b"{not json").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
