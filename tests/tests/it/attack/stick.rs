//! Attacks through a USB stick: unsigned or re-signed content, a stick for
//! another site, a stick that drops revocations, tampered and older sticks.
