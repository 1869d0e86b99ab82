// Package oci is launch as an OCI runtime: runc's command line (create, start, state,
// kill, delete, run, ps, features, spec) over a bundle, as containerd's runc shim,
// podman's conmon and CRI-O drive it. The container is set up by package launch
// (launch.Create); this package keeps the containers' state under --root, one
// directory per container, and works out each one's status from its live process.
//
// A container's directory holds state.json (written atomically, never trusted for
// the status) and, until launch start, the FIFO its process waits on.
package oci
