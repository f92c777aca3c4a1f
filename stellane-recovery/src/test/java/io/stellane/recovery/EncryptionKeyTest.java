package io.stellane.recovery;

import io.stellane.config.ConfigException;
import io.stellane.config.RuntimeConfig;
import io.stellane.config.Secret;
import io.stellane.recovery.internal.RecordCipher;
import io.stellane.recovery.testing.TestRequests;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The operator's key: where it comes from, what is refused, what is shown of it. */
class EncryptionKeyTest {
    private static final byte[] RAW = new byte[EncryptionKey.LENGTH];
    private static final String BASE64;

    static {
        for (int i = 0; i < RAW.length; i++) {
            RAW[i] = (byte) (7 * i + 3);
        }
        BASE64 = Base64.getEncoder().encodeToString(RAW);
    }

    @TempDir
    Path tmp;

    private Path keyFile(String mode, String content) throws IOException {
        Path f = tmp.resolve("journal.key");
        Files.writeString(f, content, StandardCharsets.US_ASCII);
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(mode));
        return f;
    }

    @Test
    void aKeyFileOnlyItsOwnerCanReadGivesTheKeyAndOnlyItsFingerprintIsShown() throws IOException {
        EncryptionKey fromFile = EncryptionKey.fromFile(keyFile("rw-------", BASE64 + "\n"));
        assertThat(fromFile).isEqualTo(EncryptionKey.of(RAW)).isEqualTo(EncryptionKey.fromBase64(" " + BASE64 + " "));
        assertThat(EncryptionKey.fromFile(keyFile("r--------", BASE64))).isEqualTo(fromFile);
        assertThat(fromFile.fingerprint()).matches("[0-9a-f]{32}").isNotEqualTo(TestRequests.KEY.fingerprint());
        assertThat(fromFile.toString()).contains(fromFile.fingerprint()).doesNotContain(BASE64);
    }

    @Test
    void aKeyFileGroupOrOthersCanReadIsRefusedNamingTheFileAndItsMode() throws IOException {
        Path f = keyFile("rw-r--r--", BASE64);
        assertThatThrownBy(() -> EncryptionKey.fromFile(f)).isInstanceOf(RecoveryException.class)
                .hasMessageContainingAll(f.toString(), "0644", "rw-r--r--", "chmod 600")
                .hasMessageNotContaining(BASE64);
        Path g = keyFile("rw-rw----", BASE64);
        assertThatThrownBy(() -> EncryptionKey.fromFile(g)).hasMessageContaining("0660");
    }

    @Test
    void aFileWithoutAKeyIsRefusedWithoutShowingWhatItHolds() throws IOException {
        Path f = keyFile("rw-------", "c2hvcnQ=");
        assertThatThrownBy(() -> EncryptionKey.fromFile(f)).isInstanceOf(RecoveryException.class)
                .hasMessageContainingAll(f.toString(), "32 bytes").hasMessageNotContaining("c2hvcnQ=");
        assertThatThrownBy(() -> EncryptionKey.fromBase64("not base64!")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageNotContaining("not base64!");
    }

    @Test
    void theRuntimeConfigKeyFileAndVariableReachTheStore() throws IOException {
        Path f = keyFile("rw-------", BASE64);
        RuntimeConfig base = RuntimeConfig.builder().recoveryPath(tmp.resolve("j1"))
                .recoverySensitiveHeaders(java.util.List.of("X-Api-Key")).build();
        try (RecoveryManager m = RecoveryManager.open(base.toBuilder().recoveryEncryptionKeyFile(f).build())) {
            assertThat(m.store().config().encryptionKey()).isEqualTo(EncryptionKey.of(RAW));
            assertThat(m.store().config().sensitiveHeaders())
                    .containsExactly("Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key");
        }
        try (RecoveryManager m = RecoveryManager.open(base.toBuilder().recoveryEncryptionKey(Secret.of(BASE64)).build())) {
            assertThat(m.store().config().encryptionKey()).isEqualTo(EncryptionKey.of(RAW));
        }
        Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw----r--"));
        assertThatThrownBy(() -> RecoveryManager.open(base.toBuilder().recoveryEncryptionKeyFile(f).build()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContainingAll("runtime.recovery.encryption_key_file", f.toString(), "0604");
    }

    @Test
    void aSealedRecordOpensOnlyWithItsKeyAndWhatItWasSealedFor() {
        RecordCipher cipher = new RecordCipher(TestRequests.KEY);
        byte[] clear = "{\"password\":\"hunter2\"}".getBytes(StandardCharsets.UTF_8);
        byte[] id = "r1".getBytes(StandardCharsets.UTF_8);
        byte[] a = cipher.seal((byte) 1, id, clear, 0, clear.length);
        byte[] b = cipher.seal((byte) 1, id, clear, 0, clear.length);
        assertThat(a).hasSize(clear.length + RecordCipher.OVERHEAD).isNotEqualTo(b); // a nonce per record
        assertThat(RecordCipher.isSealed(a, 0)).isTrue();
        assertThat(new String(a, StandardCharsets.ISO_8859_1)).doesNotContain("hunter2");
        assertThat(new RecordCipher(TestRequests.KEY).open((byte) 1, id, a)).isEqualTo(clear);
        assertThatThrownBy(() -> new RecordCipher(TestRequests.OTHER_KEY).open((byte) 1, id, a))
                .isInstanceOf(RecoveryException.class).hasMessageContaining(TestRequests.OTHER_KEY.fingerprint());
        assertThatThrownBy(() -> cipher.open((byte) 2, id, a)).isInstanceOf(RecoveryException.class);
        assertThatThrownBy(() -> cipher.open((byte) 1, "r2".getBytes(StandardCharsets.UTF_8), a))
                .isInstanceOf(RecoveryException.class);
    }
}
