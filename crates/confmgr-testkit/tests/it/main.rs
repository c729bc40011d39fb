//! Integration tests of the harness itself; one binary so that all of them
//! share one cluster, as the other crates' tests will.

mod mtls;
