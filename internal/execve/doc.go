// Package execve holds the child's last steps, from the moment paths resolve inside
// the container to the exec of COMMAND: every descriptor of the host closed, execution
// restricted to files below the root (Landlock), the working directory and COMMAND
// with its #! interpreters found without /proc magic links, and the execve itself.
// Until that execve is done, the child is the launcher: its descriptors and
// /proc/self/exe lead to the host (docs/ARCHITECTURE.md).
package execve
