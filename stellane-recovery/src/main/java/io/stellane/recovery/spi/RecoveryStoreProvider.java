package io.stellane.recovery.spi;

import io.stellane.recovery.RecoveryStoreFactory;

/**
 * A recovery store, by name: list the implementing class in
 * {@code META-INF/services/io.stellane.recovery.spi.RecoveryStoreProvider} (public, with a public
 * no-argument constructor; or {@code provides} in a module), and
 * {@link io.stellane.recovery.RecoveryStores} opens it under {@link #name()}. A key-value storage
 * implements {@link JournalStorageProvider} instead and gets the {@link io.stellane.recovery.Journal}
 * on top for free; a store with its own model of requests (a shared database) implements this.
 */
public interface RecoveryStoreProvider extends RecoveryStoreFactory {
    /** The name used in configuration ({@code runtime.recovery.backend}), e.g. {@code "mmap"}. */
    String name();
}
