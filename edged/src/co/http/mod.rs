//! The CO's HTTP layer, the top of its three: the north API (`north`,
//! bearer token, OpenAPI) and the south listener (`south`, mutual TLS: Git
//! for LOs, their nudge and intake, and the Margo API for directly attached
//! nodes). Only this layer knows axum; handlers read the request, call an
//! operation of `ops` (which works on the `store` and `db` below it), and
//! write the answer. Nothing below imports from here.

pub(crate) mod north;
pub(crate) mod south;

pub(crate) use north::{openapi_json, router};
