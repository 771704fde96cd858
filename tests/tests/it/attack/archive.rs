//! Attacks on the tar and gzip readers: oversized GNU long-name and PAX
//! headers, gzip bombs, traversal, links and devices, on every path that reads an
//! archive (app upload, compose archives on the node, images, sticks).
