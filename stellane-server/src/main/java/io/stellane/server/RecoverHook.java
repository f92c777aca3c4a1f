package io.stellane.server;

import io.stellane.recovery.RecoveryMetadata;
import io.stellane.task.Task;

/**
 * Replays one journaled request after a crash ({@link Server#onRecover(RecoverHook)}), seeing the
 * replay's {@link RecoveryMetadata}: attempt number, the failure that caused it, and the custom data the
 * handler journaled. Called on a worker: must not block (use {@link Task#blocking}). The request's id
 * ({@link Context#requestId()}) is the journaled one, the same on every attempt. A hook that throws or
 * whose task fails uses up an attempt and is retried; a task whose value is a {@link Response} supplies
 * the answer stored for the request's idempotency key (else the answer of
 * {@link Context#retryOriginalHandler()}, if called).
 */
@FunctionalInterface
public interface RecoverHook {
    Task<?> recover(Context ctx, Request req, RecoveryMetadata meta) throws Exception;

    /**
     * The spec's basic form, without the metadata ({@link Context#recovery()} still has it), registered
     * with {@link Server#onRecover(RecoverHook.Basic)}. Same contract.
     */
    @FunctionalInterface
    interface Basic {
        Task<?> recover(Context ctx, Request req) throws Exception;
    }
}
