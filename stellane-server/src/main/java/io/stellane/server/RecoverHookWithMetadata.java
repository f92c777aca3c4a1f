package io.stellane.server;

import io.stellane.recovery.RecoveryMetadata;
import io.stellane.task.Task;

/**
 * A {@link RecoverHook} that also sees the replay's {@link RecoveryMetadata}: attempt number, the
 * failure that caused it, and the custom data the handler journaled. Same threading contract.
 */
@FunctionalInterface
public interface RecoverHookWithMetadata {
    Task<?> recover(Context ctx, Request req, RecoveryMetadata meta) throws Exception;
}
