//! Attacks on the listeners: half-sent requests, idle connections, floods of
//! connections before and after the TLS handshake, from one peer and many.
