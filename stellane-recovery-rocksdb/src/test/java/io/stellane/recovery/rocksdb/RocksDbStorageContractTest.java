package io.stellane.recovery.rocksdb;

import io.stellane.recovery.RecoveryStore;
import io.stellane.recovery.RecoveryStoreConfig;
import io.stellane.recovery.RecoveryStores;
import io.stellane.recovery.testing.RecoveryStoreContractTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.stream.Stream;

/** The shared conformance suite, against the RocksDB storage. */
class RocksDbStorageContractTest extends RecoveryStoreContractTest {
    @Override
    protected RecoveryStore open(Path dir, RecoveryStoreConfig config) {
        return RecoveryStores.create(RocksDbStorageProvider.NAME, config);
    }

    /**
     * The WAL files: a reused one keeps an earlier period's records past what was written into it
     * since, until overwritten or the store closes.
     */
    @Override
    protected Collection<Path> filesKeptForReuse(RecoveryStore store) {
        try (Stream<Path> files = Files.list(store.config().path())) {
            return files.filter(f -> f.getFileName().toString().endsWith(".log")).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
