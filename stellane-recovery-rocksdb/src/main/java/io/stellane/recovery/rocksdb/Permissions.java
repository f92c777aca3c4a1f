package io.stellane.recovery.rocksdb;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.stream.Stream;
import org.rocksdb.AbstractEventListener;
import org.rocksdb.CompactionJobInfo;
import org.rocksdb.FlushJobInfo;
import org.rocksdb.RocksDB;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps every file of the directory owner-only: RocksDB creates its files 0644 less the umask, so
 * they are narrowed at open, after each flush and compaction, and at close.
 */
final class Permissions {
    private static final Logger LOG = LoggerFactory.getLogger(Permissions.class);
    static final Set<PosixFilePermission> FILE_PERMS = PosixFilePermissions.fromString("rw-------");

    private Permissions() {
    }

    /** Narrows every regular file in {@code dir} to 0600. */
    static void tighten(Path dir) {
        try (Stream<Path> list = Files.list(dir)) {
            for (Path f : list.toList()) {
                try {
                    if (Files.isRegularFile(f) && !Files.getPosixFilePermissions(f).equals(FILE_PERMS)) {
                        Files.setPosixFilePermissions(f, FILE_PERMS);
                    }
                } catch (NoSuchFileException ignored) {
                    // deleted by RocksDB meanwhile
                }
            }
        } catch (IOException e) {
            LOG.warn("cannot narrow file permissions in recovery store {}: {}", dir, e.getMessage());
        }
    }

    /** Narrows the files RocksDB created in the background (new WAL, SST, MANIFEST). */
    static final class Listener extends AbstractEventListener {
        private final Path dir;

        Listener(Path dir) {
            super(EnabledEventCallback.ON_FLUSH_COMPLETED, EnabledEventCallback.ON_COMPACTION_COMPLETED);
            this.dir = dir;
        }

        @Override
        public void onFlushCompleted(RocksDB db, FlushJobInfo info) {
            tighten(dir);
        }

        @Override
        public void onCompactionCompleted(RocksDB db, CompactionJobInfo info) {
            tighten(dir);
        }
    }
}
