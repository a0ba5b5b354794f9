//! What every HTTP feature of gatehouse shares, and no feature of its own: problem+json and
//! the OAuth error bodies (`problem`), the JSON and form extractors (`json`), who is calling
//! (`caller`), the access-token extractor and its scopes (`extractors`), the request being
//! served (`request_context`), the handlers' state (`state`), the hosted pages' cookies, the
//! paths named in more than one place, the 405 answers (`methods`), mail sent after the
//! answer and QR codes. The JSON API (`gatehouse-api`) and the hosted pages
//! (`gatehouse-pages`) build on it; the server (`gatehouse-server`) wires them.

pub mod caller;
pub mod cookies;
pub mod extractors;
pub mod json;
pub mod methods;
pub mod paths;
pub mod problem;
pub mod qr;
pub mod request_context;
pub mod state;
