package io.stellane.examples.users;

import org.h2.store.fs.FilePath;
import org.h2.store.fs.FilePathWrapper;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * H2's file system with owner-only files: a file H2 creates through a {@code private:} path is created
 * {@code 0600} (a directory {@code 0700}) before H2 opens it, so neither the umask nor the moment matters
 * (the database, its trace file, lock and temporary files alike). {@code jdbc:h2:private:/dir/users} is
 * the database {@code /dir/users.mv.db}, the same file {@code jdbc:h2:file:/dir/users} names.
 *
 * <p>Registered with H2 (JVM-wide, idempotent) by {@link #register()}, which {@link Dialect#H2} calls
 * before it hands out a driver. H2 instantiates this class by reflection for every path.
 */
public final class PrivateFilePath extends FilePathWrapper {
    public static final String SCHEME = "private";
    private static final java.nio.file.attribute.FileAttribute<?> FILE_MODE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));
    private static final java.nio.file.attribute.FileAttribute<?> DIR_MODE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    private static volatile boolean registered;

    /** Makes {@code private:} paths known to H2. */
    public static void register() {
        if (!registered) {
            synchronized (PrivateFilePath.class) {
                if (!registered) {
                    FilePath.register(new PrivateFilePath());
                    registered = true;
                }
            }
        }
    }

    @Override
    public String getScheme() {
        return SCHEME;
    }

    @Override
    public boolean createFile() {
        try {
            Files.createFile(path(), FILE_MODE);
            return true;
        } catch (FileAlreadyExistsException e) {
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void createDirectory() {
        try {
            Files.createDirectory(path(), DIR_MODE);
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(path())) {
                throw new UncheckedIOException(e);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public OutputStream newOutputStream(boolean append) throws IOException {
        createIfMissing();
        return super.newOutputStream(append);
    }

    @Override
    public FileChannel open(String mode) throws IOException {
        if (mode.indexOf('w') >= 0) { // "r" never creates
            createIfMissing();
        }
        return super.open(mode);
    }

    private void createIfMissing() throws IOException {
        Path p = path();
        Path parent = p.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            return; // H2's own call reports the missing directory
        }
        try {
            Files.createFile(p, FILE_MODE); // umask only clears bits: 0600 stays 0600
        } catch (FileAlreadyExistsException e) {
            // an existing file keeps its mode; DataDir narrows the data directory's at start
        }
    }

    /** The path on disk: the name without {@code private:}. */
    private Path path() {
        return Path.of(getBase().toString());
    }
}
