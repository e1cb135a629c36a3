//! What a handler answers: status, extra headers and a body, turned into an HTTP response in
//! one place.

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Empty,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Json(body),
        }
    }

    pub fn ok(body: Value) -> Reply {
        Reply::json(StatusCode::OK, body)
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub fn json_body(&self) -> Option<&Value> {
        match &self.body {
            Body::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The response; `content_type` is used for JSON bodies.
    pub fn into_response_with(self, content_type: &str) -> Response {
        let (mut response, has_type) = match self.body {
            Body::Json(v) => (
                (self.status, serde_json::to_string(&v).unwrap_or_default()).into_response(),
                content_type,
            ),
            Body::Empty => (self.status.into_response(), ""),
        };
        let headers = response.headers_mut();
        if !has_type.is_empty() {
            if let Ok(v) = HeaderValue::from_str(has_type) {
                headers.insert(axum::http::header::CONTENT_TYPE, v);
            }
        }
        for (name, value) in self.headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(n, v);
            }
        }
        response
    }
}
