//! Tests of the helpers.
