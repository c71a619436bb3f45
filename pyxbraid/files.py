"""Opening a file the user names, refusing what is not a regular file (a
device such as /dev/zero, a FIFO, a folder) before anything is read."""
import os
import stat


def open_regular(path, what):
    """`path` opened for reading in binary; ValueError naming `what` (e.g.
    "problem file", "IDX file") when it cannot be opened or is not a
    regular file."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise ValueError(f"cannot read the {what}: {e.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise ValueError(f"not a regular file ({file_type(mode)}); the {what} must be one")
    return os.fdopen(fd, "rb")


def file_type(mode):
    """What a non-regular st_mode is, in words."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a plain file"
