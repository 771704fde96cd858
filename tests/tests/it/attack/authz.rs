//! Attacks on authorization: fetching artifacts not named by the caller's own
//! deployments, inventing status reports for unknown deployments and foreign
//! devices, reading another device's desired state.
