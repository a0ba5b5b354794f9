//! What the features of the JSON API share, importing none of them: the documented error
//! responses ([`responses`]), schema helpers, text patterns and common bodies
//! ([`schemas`]), list paging ([`query`]) and the strict OAuth form reader ([`form`]).

pub mod form;
pub mod query;
pub mod responses;
pub mod schemas;
