package io.stellane.examples;

import io.stellane.config.ConfigException;
import io.stellane.examples.users.DatabaseConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The service's data directory, kept private: the directory {@code 0700}, the database's files in it
 * {@code 0600}, whatever the umask and whatever an earlier run or an operator left there.
 *
 * <p>Java cannot set the umask, so files that H2 creates later would get {@code 0666 & ~umask}. The
 * directory's mode is what protects them (nobody else can reach anything in it); on top of that the
 * default H2 URL goes through {@link io.stellane.examples.users.PrivateFilePath}, which creates every
 * file {@code 0600}, and the recovery stores keep their own directory {@code 0700} and files {@code 0600}.
 * Files left by earlier runs (e.g. a {@code users.mv.db} created {@code 0644}) are narrowed here, at start.
 * Only the database's own files are touched: a directory given by mistake (a home directory) keeps the
 * modes of everything else in it.
 */
final class DataDir {
    private static final Logger log = LoggerFactory.getLogger(DataDir.class);
    static final Set<PosixFilePermission> DIR_PERMISSIONS = PosixFilePermissions.fromString("rwx------");
    static final Set<PosixFilePermission> FILE_PERMISSIONS = PosixFilePermissions.fromString("rw-------");
    /** H2 names every file of a database {@code <name>.<suffix>}: {@code users.mv.db}, {@code users.trace.db}, ... */
    static final String DATABASE_FILES = DatabaseConfig.DEFAULT_H2_NAME + ".*";

    private DataDir() {
    }

    /**
     * Creates {@code dir} (and missing parents) {@code 0700}, or narrows an existing one to {@code 0700}
     * with one warning naming it and its old mode; then narrows the database's files in it to {@code 0600}.
     *
     * @throws ConfigException     when {@code dir} is a file, or a shared directory (sticky bit, like /tmp)
     *                             that must not be closed to its other users
     * @throws UncheckedIOException when {@code dir} cannot be created or narrowed, naming it, the path the
     *                             system refused and why (e.g. permission denied)
     */
    static void prepare(Path dir) {
        try {
            if (!Files.isDirectory(dir)) {
                create(dir);
            } else {
                narrowExisting(dir);
            }
            narrowDatabaseFiles(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare the data directory " + dir + " (--data-dir): " + describe(e), e);
        }
    }

    /** The path and the reason: for most file system errors, Java's message is the path alone. */
    static String describe(IOException e) {
        if (!(e instanceof FileSystemException f) || f.getFile() == null) {
            return e.getMessage() != null ? e.getMessage() : e.toString();
        }
        String why = f.getReason() != null ? f.getReason()
                : f instanceof AccessDeniedException ? "permission denied"
                : f instanceof NoSuchFileException ? "no such file or directory"
                : f instanceof NotDirectoryException ? "not a directory"
                : f instanceof FileAlreadyExistsException ? "exists and is not a directory"
                : f.getClass().getSimpleName();
        return f.getFile() + (f.getOtherFile() != null ? " -> " + f.getOtherFile() : "") + ": " + why;
    }

    private static void create(Path dir) throws IOException {
        Path parent = dir.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(DIR_PERMISSIONS));
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw new ConfigException("--data-dir", dir.toString(), "a directory (a file of that name exists)");
            }
        }
        Files.setPosixFilePermissions(dir, DIR_PERMISSIONS); // another process may have created it meanwhile
    }

    private static void narrowExisting(Path dir) throws IOException {
        int mode = (Integer) Files.getAttribute(dir, "unix:mode");
        if ((mode & 01000) != 0) {
            throw new ConfigException("--data-dir", dir.toString(), "a directory of the service's own; this one is"
                    + " shared (sticky bit, mode " + octal(mode) + ") and making it 0700 would lock its other users out");
        }
        Set<PosixFilePermission> now = Files.getPosixFilePermissions(dir);
        if (!now.equals(DIR_PERMISSIONS)) {
            log.warn("data directory {} has mode {} ({}): others could read the database and the journal;"
                    + " narrowing it to 0700", dir, octal(mode), PosixFilePermissions.toString(now));
            Files.setPosixFilePermissions(dir, DIR_PERMISSIONS);
        }
    }

    private static void narrowDatabaseFiles(Path dir) throws IOException {
        List<String> narrowed = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, DATABASE_FILES)) {
            for (Path f : files) {
                // a symbolic link is not followed: what it points at is not the service's to change
                if (Files.isRegularFile(f, LinkOption.NOFOLLOW_LINKS)
                        && !Files.getPosixFilePermissions(f).equals(FILE_PERMISSIONS)) {
                    narrowed.add(f.getFileName() + " " + PosixFilePermissions.toString(Files.getPosixFilePermissions(f)));
                    Files.setPosixFilePermissions(f, FILE_PERMISSIONS);
                }
            }
        }
        if (!narrowed.isEmpty()) {
            log.warn("narrowed database files in {} to 0600: {}", dir, String.join(", ", narrowed));
        }
    }

    static String octal(int mode) {
        return String.format("%04o", mode & 07777);
    }
}
