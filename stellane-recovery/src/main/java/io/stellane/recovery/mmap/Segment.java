package io.stellane.recovery.mmap;

import io.stellane.recovery.RecoveryException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * One preallocated, memory-mapped journal file {@code seg-<baseSeq>.log}. Writes happen under the
 * store's lock with absolute puts; {@link #force} may run concurrently from any thread (it only
 * msyncs a range and touches no buffer state).
 */
final class Segment {
    static final int MAGIC = 0x53544a31; // "STJ1"
    static final int VERSION = 1;
    /** magic u32 | version u32 | baseSeq u64 */
    static final int FILE_HEADER = 16;
    static final String PREFIX = "seg-";
    static final String SUFFIX = ".log";

    final Path path;
    final long baseSeq;
    final int capacity;
    final MappedByteBuffer buf;
    private final FileChannel channel;
    /** Next write offset; only under the store lock. */
    int writePos = FILE_HEADER;
    /** Bytes known forced; only under the store lock. */
    int syncedPos = FILE_HEADER;

    private Segment(Path path, long baseSeq, FileChannel channel, MappedByteBuffer buf) {
        this.path = path;
        this.baseSeq = baseSeq;
        this.channel = channel;
        this.buf = buf;
        this.capacity = buf.capacity();
    }

    static String fileName(long baseSeq) {
        return PREFIX + String.format("%020d", baseSeq) + SUFFIX;
    }

    /** The base sequence in a segment file name, or -1 if it is not one. */
    static long parseBaseSeq(String name) {
        if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) {
            return -1;
        }
        try {
            return Long.parseLong(name.substring(PREFIX.length(), name.length() - SUFFIX.length()));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /**
     * Creates a segment crash-safely: zeros and header are written to a temporary file, forced,
     * renamed into place, then the directory is forced. Zeros rather than a sparse file, since a
     * hole that cannot be allocated on a full disk faults inside a mapped write (SIGBUS).
     */
    static Segment create(Path dir, long baseSeq, int size) {
        Path target = dir.resolve(fileName(baseSeq));
        Path tmp = dir.resolve(fileName(baseSeq) + ".tmp");
        if (Files.exists(target)) {
            throw new RecoveryException("journal segment " + target + " already exists");
        }
        try {
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(MmapRecoveryStore.FILE_PERMS));
            Files.setPosixFilePermissions(tmp, MmapRecoveryStore.FILE_PERMS);
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                ByteBuffer header = ByteBuffer.allocate(FILE_HEADER).putInt(MAGIC).putInt(VERSION).putLong(baseSeq).flip();
                while (header.hasRemaining()) {
                    ch.write(header);
                }
                ByteBuffer zeros = ByteBuffer.allocate(Math.min(size, 1 << 20));
                long pos = FILE_HEADER;
                while (pos < size) {
                    zeros.clear().limit((int) Math.min(zeros.capacity(), size - pos));
                    pos += ch.write(zeros, pos);
                }
                ch.force(true);
            }
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            MmapRecoveryStore.forceDirectory(dir);
            return open(target, baseSeq);
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new RecoveryException("cannot create journal segment " + target + ": " + e.getMessage(), e);
        }
    }

    static Segment open(Path path, long baseSeq) {
        try {
            FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            long size = ch.size();
            if (size > Integer.MAX_VALUE) {
                ch.close();
                throw new RecoveryException("journal segment " + path + " is larger than 2 GiB: " + size);
            }
            MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_WRITE, 0, size);
            return new Segment(path, baseSeq, ch, buf);
        } catch (IOException e) {
            throw new RecoveryException("cannot map journal segment " + path + ": " + e.getMessage(), e);
        }
    }

    /** Whether the file header is intact and names {@link #baseSeq}. */
    boolean headerValid() {
        return capacity >= FILE_HEADER && buf.getInt(0) == MAGIC && buf.getInt(4) == VERSION
                && buf.getLong(8) == baseSeq;
    }

    int remaining() {
        return capacity - writePos;
    }

    /** Forces {@code [from, to)} to stable storage. */
    void force(int from, int to) {
        if (to > from) {
            try {
                buf.force(from, to - from);
            } catch (UncheckedIOException e) {
                // fail closed: a caller told "durable" must never be told so wrongly
                throw new RecoveryException("msync of " + path + " failed: " + e.getMessage(), e);
            }
        }
    }

    /** Whether any byte in {@code [from, capacity)} is non-zero. */
    boolean dirtyFrom(int from) {
        int i = from;
        for (; i < capacity && (i & 7) != 0; i++) {
            if (buf.get(i) != 0) {
                return true;
            }
        }
        for (; i + 8 <= capacity; i += 8) {
            if (buf.getLong(i) != 0) {
                return true;
            }
        }
        for (; i < capacity; i++) {
            if (buf.get(i) != 0) {
                return true;
            }
        }
        return false;
    }

    void zeroFrom(int from) {
        byte[] zeros = new byte[64 * 1024];
        for (int i = from; i < capacity; i += zeros.length) {
            buf.put(i, zeros, 0, Math.min(zeros.length, capacity - i));
        }
        force(from, capacity);
    }

    void closeChannel() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // the mapping stays valid and nothing is buffered in the channel
        }
    }

    @Override
    public String toString() {
        return path.getFileName().toString();
    }
}
