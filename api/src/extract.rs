//! The JSON body extractor of `/api/v1`: like `actix_web::web::Json` (same size limit,
//! `application/json` required), but a value of the wrong type or shape is answered naming the
//! field as a path (`names[0].given`) and never echoing the value. actix's own extractor gives
//! its error handler serde_json's message (`invalid type: string "Smith", expected a
//! sequence`), which quotes what the client sent, and no field.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::BytesMut;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::startup::JSON_LIMIT_BYTES;

/// A JSON request body of type `T`.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req.content_type().to_ascii_lowercase();
        let json = content_type == "application/json" || content_type.ends_with("+json");
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let too_large = ApiError::PayloadTooLarge {
                limit: JSON_LIMIT_BYTES,
            };
            if declared.is_some_and(|n| n > JSON_LIMIT_BYTES) {
                return Err(too_large);
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| ApiError::BadRequest {
                    code: "bad_request",
                    message: "the body could not be read".to_owned(),
                    field: None,
                })?;
                if body.len() + chunk.len() > JSON_LIMIT_BYTES {
                    return Err(too_large);
                }
                body.extend_from_slice(&chunk);
            }
            parse(&body).map(Json)
        })
    }
}

/// Deserializes `body`, naming the field of a wrong value.
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let (path, inner) = match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => match de.end() {
            Ok(()) => return Ok(value),
            Err(trailing) => (String::new(), trailing),
        },
        Err(error) => (error.path().to_string(), error.into_inner()),
    };
    if !inner.is_data() {
        return Err(ApiError::BadRequest {
            code: "malformed_json",
            message: format!(
                "malformed JSON at line {} column {}",
                inner.line(),
                inner.column()
            ),
            field: None,
        });
    }
    let (field, message) = describe(&path, &inner.to_string());
    Err(ApiError::InvalidValue {
        message: match &field {
            Some(f) => format!("{f}: {message}"),
            None => message,
        },
        field,
    })
}

/// The field and a message for serde's data error `text` at `path`, without the value.
fn describe(path: &str, text: &str) -> (Option<String>, String) {
    let field = (path != "." && !path.is_empty()).then(|| path.to_owned());
    // serde_json appends the position; the rest is serde's message.
    let text = text.rsplit_once(" at line ").map_or(text, |(t, _)| t);
    let expected = text.split_once(", expected ").map(|(_, e)| e);
    if let Some(name) = text
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        let field = match field {
            Some(f) => format!("{f}.{name}"),
            None => name.to_owned(),
        };
        return (Some(field), "is required".to_owned());
    }
    let message = if text.starts_with("invalid type:") {
        format!(
            "has the wrong type (expected {})",
            expected.unwrap_or("another type")
        )
    } else if text.starts_with("unknown variant") {
        format!(
            "is not a known code (expected {})",
            expected.unwrap_or("a known code")
        )
    } else if text.starts_with("unknown field") {
        format!(
            "is not a known field (expected {})",
            expected.unwrap_or("a known field")
        )
    } else if text.starts_with("invalid value:") || text.starts_with("invalid length") {
        format!(
            "is not valid (expected {})",
            expected.unwrap_or("another value")
        )
    } else if text.contains(['"', '`', '\'']) {
        // A message of a type's own parser that quotes the input.
        "is not valid".to_owned()
    } else {
        text.to_owned()
    };
    (field, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Name {
        family: Option<String>,
        given: Vec<String>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Body {
        names: Vec<Name>,
        birth_date: Option<chrono::NaiveDate>,
    }

    fn refused(body: &str) -> (Option<String>, String, &'static str) {
        let error = parse::<Body>(body.as_bytes()).expect_err(body);
        (
            error.field().map(str::to_owned),
            error.message(),
            error.code(),
        )
    }

    #[test]
    fn a_wrong_value_names_its_field_and_never_echoes_it() {
        for (body, field) in [
            (r#"{"names": "Smith"}"#, "names"),
            (
                r#"{"names": [{"family": "A", "given": "Smith"}]}"#,
                "names[0].given",
            ),
            (
                r#"{"names": [{"family": 7, "given": []}]}"#,
                "names[0].family",
            ),
            (
                r#"{"names": [], "birth_date": "Smith-01-01"}"#,
                "birth_date",
            ),
            (r#"{"names": [{"family": "A"}]}"#, "names[0].given"),
        ] {
            let (got, message, code) = refused(body);
            assert_eq!(got.as_deref(), Some(field), "{body}: {message}");
            assert_eq!(code, "invalid_value");
            assert!(
                !message.contains("Smith") && !message.contains('7'),
                "{message}"
            );
        }
        let (field, message, code) = refused(r#"{"names": [}"#);
        assert_eq!((field, code), (None, "malformed_json"), "{message}");
        assert_eq!(refused(r#"{"names": []} x"#).2, "malformed_json");
    }
}
