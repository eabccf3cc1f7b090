//! The shared vocabulary, below every stage: errors that point into an
//! input file ([`diagnostic`]), what an args file asks for
//! ([`spec`], read into the [`value`] tree first), the filesystem a layer,
//! an initrd or a block image holds ([`fstree`]), opening the user's files
//! without hanging on FIFOs or devices ([`hostfile`]), the OCI documents and
//! digests ([`oci`]) and their pre-defined annotation keys ([`metadata`]), image names and tags ([`reference`](mod@reference)), RFC 3339 times
//! ([`time`]), urunc's annotation keys with their two encodings
//! ([`urunc`]), and the progress of long steps ([`progress`]).

pub mod diagnostic;
pub mod fstree;
pub mod hostfile;
pub mod metadata;
pub mod oci;
pub mod progress;
pub mod reference;
pub mod spec;
pub mod time;
pub mod urunc;
pub mod value;
