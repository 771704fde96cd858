//! Attacks through app sources: Git URLs that point at loopback or private
//! ranges, and packs larger than the bound.
