package io.stellane.examples;

import io.stellane.config.ConfigException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What {@link DataDir#prepare} makes of directories and files that exist before the service starts. */
class DataDirTest {
    @TempDir
    Path tmp;

    private static String mode(Path p) throws Exception {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p));
    }

    private static Path withMode(Path p, String mode) throws Exception {
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(mode));
        return p;
    }

    @Test
    void aLooseDirectoryAndTheDatabaseFilesInItAreNarrowedAndNothingElse() throws Exception {
        Path dir = withMode(Files.createDirectory(tmp.resolve("data")), "rwxr-xr-x");
        Path db = withMode(Files.createFile(dir.resolve("users.mv.db")), "rw-r--r--");
        Path trace = withMode(Files.createFile(dir.resolve("users.trace.db")), "rw-rw-rw-");
        Path notes = withMode(Files.createFile(dir.resolve("notes.txt")), "rwxr-xr-x");
        Path outside = withMode(Files.createFile(tmp.resolve("elsewhere")), "rw-r--r--");
        Path link = Files.createSymbolicLink(dir.resolve("users.link.db"), outside);

        DataDir.prepare(dir);

        assertThat(mode(dir)).isEqualTo("rwx------");
        assertThat(mode(db)).isEqualTo("rw-------");
        assertThat(mode(trace)).isEqualTo("rw-------");
        assertThat(mode(notes)).as("not a file of the database").isEqualTo("rwxr-xr-x");
        assertThat(mode(outside)).as("a link's target is not followed").isEqualTo("rw-r--r--");
        assertThat(Files.isSymbolicLink(link)).isTrue();
    }

    @Test
    void aPrivateDirectoryIsLeftAsItIs() throws Exception {
        Path dir = withMode(Files.createDirectory(tmp.resolve("data")), "rwx------");
        Path db = withMode(Files.createFile(dir.resolve("users.mv.db")), "rw-------");
        long modified = Files.getLastModifiedTime(dir).toMillis();
        DataDir.prepare(dir);
        assertThat(mode(dir)).isEqualTo("rwx------");
        assertThat(mode(db)).isEqualTo("rw-------");
        assertThat(Files.getLastModifiedTime(dir).toMillis()).isEqualTo(modified);
    }

    @Test
    void aMissingDirectoryIsCreatedPrivateWithItsParents() throws Exception {
        Path dir = tmp.resolve("a").resolve("b");
        DataDir.prepare(dir);
        assertThat(mode(dir)).isEqualTo("rwx------");
    }

    @Test
    void aSharedDirectoryWithTheStickyBitIsRefusedNotClosed() throws Exception {
        Path shared = Files.createDirectory(tmp.resolve("shared"));
        Files.setAttribute(shared, "unix:mode", 01777);
        assertThatThrownBy(() -> DataDir.prepare(shared)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("--data-dir").hasMessageContaining("1777");
        assertThat((Integer) Files.getAttribute(shared, "unix:mode") & 07777).isEqualTo(01777);
    }

    @Test
    void aFileIsAConfigError() throws Exception {
        Path file = Files.createFile(tmp.resolve("plain"));
        assertThatThrownBy(() -> DataDir.prepare(file)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("--data-dir");
    }

    @Test
    void aDirectoryThatCannotBeCreatedIsNamedWithThePathRefusedAndWhy() throws Exception {
        Path file = Files.createFile(tmp.resolve("plain"));
        Path dir = file.resolve("data");
        assertThatThrownBy(() -> DataDir.prepare(dir)).isInstanceOf(UncheckedIOException.class)
                .hasMessage("cannot prepare the data directory " + dir + " (--data-dir): " + file
                        + ": exists and is not a directory");
    }

    @Test
    void aDirectoryTheSystemDoesNotLetUsCreateSaysWhy() {
        // sysfs refuses new directories to root as well: EPERM, EACCES, or EROFS where it is mounted read-only
        Path dir = Path.of("/sys/stellane-data-dir-test/data");
        assertThatThrownBy(() -> DataDir.prepare(dir)).isInstanceOf(UncheckedIOException.class)
                .hasMessageStartingWith("cannot prepare the data directory " + dir + " (--data-dir): /sys/stellane-data-dir-test: ")
                .hasMessageMatching(".*: (Operation not permitted|permission denied|Read-only file system)$");
    }

    @Test
    void fileSystemErrorsAreDescribedByPathAndReasonNotByPathAlone() {
        assertThat(DataDir.describe(new AccessDeniedException("/srv/data"))).isEqualTo("/srv/data: permission denied");
        assertThat(DataDir.describe(new NoSuchFileException("/srv/data"))).isEqualTo("/srv/data: no such file or directory");
        assertThat(DataDir.describe(new FileSystemException("/srv/data", null, "Read-only file system")))
                .isEqualTo("/srv/data: Read-only file system");
        assertThat(DataDir.describe(new IOException("disk on fire"))).isEqualTo("disk on fire");
    }
}
