package ns

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// atFDCWD is AT_FDCWD as a variable: the constant is negative and cannot be converted
// to uintptr directly.
var atFDCWD = unix.AT_FDCWD

// isBigEndian is the byte order of the running machine.
var isBigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1
