package io.stellane.server;

import io.stellane.recovery.JournaledRequest;
import io.stellane.recovery.StoredResponse;
import io.stellane.task.Task;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;

/**
 * Where and when a server's journal writes run, chosen once when recovery is enabled, by what the
 * store costs per call:
 * <ul>
 * <li>{@link Inline}: on the request's worker, now. Under {@code SyncPolicy.NONE} and
 * {@code INTERVAL} an mmap append is a memory copy.
 * <li>{@link Grouped}: the writes of a worker's loop turn gathered and handed to the store together
 * ({@code RecoveryStore.groupsWrites()}: RocksDB writes a group as one batch, one WAL write).
 * <li>{@link Offloaded}: on a virtual thread, the request continuing on its worker when the write
 * returns; under {@code SyncPolicy.ALWAYS} every write waits for the disk.
 * <li>{@link Shared}: a store other nodes share ({@code RecoveryStore.shared()}, PostgreSQL): every
 * call is a round trip, so a loop turn's writes, and the idempotency lookups before them, go over
 * together from a virtual thread.
 * </ul>
 * Whatever the mode, a request whose body or stored response is larger than {@link #OFFLOAD_BYTES}
 * is written offloaded: copying 64 KiB into the journal takes microseconds, but megabytes fault in
 * fresh pages and meet the kernel's dirty-page throttling, which can hold the writing thread for
 * seconds.
 */
abstract sealed class JournalWriter
        permits JournalWriter.Inline, JournalWriter.Grouped, JournalWriter.Offloaded, JournalWriter.Shared {
    static final int OFFLOAD_BYTES = 64 * 1024;

    /** A request on its way to the journal, then to its handler. */
    record Admission(Exchange ex, Context cx, Handler handler, String key) {
    }

    /** An answer on its way to the journal, then to the client. */
    record Answer(Exchange ex, Context cx, Response response, String key, StoredResponse stored) {
    }

    final RecoveryInterceptor recovery;

    JournalWriter(RecoveryInterceptor recovery) {
        this.recovery = recovery;
    }

    /** Journals the request, then lets the dispatcher run its handler, or answers it without. On the loop. */
    abstract void admit(Admission a);

    /** Completes the request in the journal, then lets the exchange write the answer. On the loop. */
    abstract void complete(Answer a);

    /** After the journal step: the handler runs, or the early answer is written. On the loop. */
    static void proceed(Admission a, Response early) {
        if (early == null) {
            a.cx().dispatcher().invoke(a.ex(), a.cx(), a.handler());
        } else {
            a.ex().respond(a.cx(), early);
        }
    }

    static boolean large(Admission a) {
        return a.cx().request().body().length > OFFLOAD_BYTES;
    }

    static boolean large(Answer a) {
        return a.stored() != null && a.stored().body().length > OFFLOAD_BYTES;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName().toLowerCase();
    }

    /** On the worker, at once. */
    static final class Inline extends JournalWriter {
        private final Offloaded offloaded;

        Inline(RecoveryInterceptor recovery) {
            super(recovery);
            this.offloaded = new Offloaded(recovery);
        }

        @Override
        void admit(Admission a) {
            if (large(a)) {
                offloaded.admit(a);
            } else {
                proceed(a, recovery.journal(a));
            }
        }

        @Override
        void complete(Answer a) {
            if (large(a)) {
                offloaded.complete(a);
            } else {
                recovery.complete(a);
                a.ex().respond(a.cx(), a.response());
            }
        }
    }

    /** On a virtual thread; the request continues on its worker. */
    static final class Offloaded extends JournalWriter {
        Offloaded(RecoveryInterceptor recovery) {
            super(recovery);
        }

        @Override
        void admit(Admission a) {
            Task.blocking(() -> recovery.journal(a)).onComplete((early, error) -> a.ex().onLoop(() -> {
                proceed(a, error != null ? recovery.journalFailed(a, error) : early);
                a.ex().flush();
            }));
        }

        @Override
        void complete(Answer a) {
            Task.blocking(() -> {
                recovery.complete(a);
                return null;
            }).onComplete((v, e) -> a.ex().onLoop(() -> {
                a.ex().respond(a.cx(), a.response());
                a.ex().flush();
            }));
        }
    }

    /**
     * Group commit: the journal writes a worker makes in one loop turn (appends before handlers,
     * completions before responses) wait here and go to the store together, in a task that runs on
     * the same loop once the turn's I/O is handled. Handlers and responses continue from that task,
     * in arrival order. Each worker's group is confined to its thread.
     */
    static final class Grouped extends JournalWriter {
        private final Offloaded offloaded;
        private final ThreadLocal<Group> groups = ThreadLocal.withInitial(Group::new);

        Grouped(RecoveryInterceptor recovery) {
            super(recovery);
            this.offloaded = new Offloaded(recovery);
        }

        @Override
        void admit(Admission a) {
            if (large(a)) {
                offloaded.admit(a);
                return;
            }
            Response early;
            try {
                early = recovery.storedAnswer(a);
                if (early == null) {
                    groups.get().admit(a, recovery.toJournaled(a));
                    return;
                }
            } catch (RuntimeException e) {
                early = recovery.journalFailed(a, e);
            }
            a.ex().respond(a.cx(), early);
        }

        @Override
        void complete(Answer a) {
            if (large(a)) {
                offloaded.complete(a);
            } else {
                groups.get().answer(a);
            }
        }

        private final class Group implements Runnable {
            private ArrayList<Admission> admitted = new ArrayList<>();
            private ArrayList<JournaledRequest> requests = new ArrayList<>();
            private ArrayList<Answer> answered = new ArrayList<>();
            private boolean scheduled;

            void admit(Admission a, JournaledRequest request) {
                admitted.add(a);
                requests.add(request);
                schedule(a.ex());
            }

            void answer(Answer a) {
                answered.add(a);
                schedule(a.ex());
            }

            private void schedule(Exchange ex) {
                if (!scheduled) {
                    scheduled = true;
                    ex.later(this); // behind the turn's I/O: the group collects the whole turn
                }
            }

            @Override
            public void run() {
                try {
                    // handlers that answer at once add to the next round of completions, committed here too
                    while (!admitted.isEmpty() || !answered.isEmpty()) {
                        if (!admitted.isEmpty()) {
                            ArrayList<Admission> group = admitted;
                            ArrayList<JournaledRequest> journaled = requests;
                            admitted = new ArrayList<>();
                            requests = new ArrayList<>();
                            commitAdmitted(group, journaled);
                        }
                        if (!answered.isEmpty()) {
                            ArrayList<Answer> group = answered;
                            answered = new ArrayList<>();
                            commitAnswered(group);
                        }
                    }
                } finally {
                    scheduled = false;
                }
            }

            private void commitAdmitted(List<Admission> group, List<JournaledRequest> journaled) {
                List<RuntimeException> failures = perMember(group.size(), () -> recovery.manager.journalAll(journaled));
                for (int i = 0; i < group.size(); i++) {
                    Admission a = group.get(i);
                    RuntimeException failure = failures.get(i);
                    if (failure != null) {
                        proceed(a, recovery.journalFailed(a, failure));
                    } else {
                        RecoveryInterceptor.journaled(a.cx());
                        proceed(a, null);
                    }
                    a.ex().flush();
                }
            }

            private void commitAnswered(List<Answer> group) {
                List<String> ids = new ArrayList<>(group.size());
                List<StoredResponse> stored = new ArrayList<>(group.size());
                for (Answer a : group) {
                    ids.add(a.cx().requestId());
                    stored.add(a.stored());
                }
                List<RuntimeException> failures = perMember(group.size(), () -> recovery.manager.completeAll(ids, stored));
                for (int i = 0; i < group.size(); i++) {
                    Answer a = group.get(i);
                    RuntimeException failure = failures.get(i);
                    if (failure != null) {
                        recovery.completionFailed(a.cx(), failure);
                    }
                    recovery.release(a.key(), a.cx().requestId());
                    a.ex().respond(a.cx(), a.response());
                    a.ex().flush();
                }
            }
        }
    }

    /**
     * Group commit for a store across the network: like {@link Grouped}, a worker's writes of one loop
     * turn wait for the turn's end, but the group is then sent from one virtual thread (the completions
     * as one call, then the idempotency lookups and the appends as one call), and the responses and
     * handlers continue on the worker when the database has answered. Several groups of one worker may be in
     * flight at once; a request's completion always follows its append, since its handler ran between.
     */
    static final class Shared extends JournalWriter {
        /** Groups a worker has on their way to the database at once; the next one gathers meanwhile. */
        static final int MAX_IN_FLIGHT = 1;
        private final ThreadLocal<Batch> batches = ThreadLocal.withInitial(Batch::new);

        Shared(RecoveryInterceptor recovery) {
            super(recovery);
        }

        @Override
        void admit(Admission a) {
            JournaledRequest request;
            try {
                request = recovery.toJournaled(a);
            } catch (RuntimeException e) {
                a.ex().respond(a.cx(), recovery.journalFailed(a, e));
                return;
            }
            batches.get().admit(a, request);
        }

        @Override
        void complete(Answer a) {
            batches.get().answer(a);
        }

        /** One worker's writes of the current turn; confined to that worker. */
        private final class Batch implements Runnable {
            private ArrayList<Admission> admitted = new ArrayList<>();
            private ArrayList<JournaledRequest> requests = new ArrayList<>();
            private ArrayList<Answer> answered = new ArrayList<>();
            private boolean scheduled;
            /** Groups of this worker the database has not answered yet. */
            private int inFlight;

            void admit(Admission a, JournaledRequest request) {
                admitted.add(a);
                requests.add(request);
                schedule(a.ex());
            }

            void answer(Answer a) {
                answered.add(a);
                schedule(a.ex());
            }

            private void schedule(Exchange ex) {
                if (!scheduled) {
                    scheduled = true;
                    ex.later(this);
                }
            }

            /**
             * Sends what the turn gathered, unless {@link #MAX_IN_FLIGHT} groups are on their way: then
             * it waits for one to come back ({@link #returned}) and goes with everything gathered by
             * then. Without the bound, every turn would send its own group of two or three requests,
             * and the database would commit as often as the requests arrive.
             */
            @Override
            public void run() {
                scheduled = false;
                if (inFlight >= MAX_IN_FLIGHT || admitted.isEmpty() && answered.isEmpty()) {
                    return;
                }
                inFlight++;
                send(this, admitted, requests, answered);
                admitted = new ArrayList<>();
                requests = new ArrayList<>();
                answered = new ArrayList<>();
            }

            /** A group came back (on the worker): the next one may go. */
            void returned() {
                inFlight--;
                run();
            }
        }

        /**
         * One virtual thread per turn: the completions, then the idempotency lookups and the appends;
         * back on the worker, the answers go out and the handlers run. One hop to the worker per turn,
         * however many requests it carried: each hop may have to wake the worker's poller.
         */
        private void send(Batch batch, List<Admission> admits, List<JournaledRequest> journaled, List<Answer> answers) {
            Exchange home = !answers.isEmpty() ? answers.getFirst().ex() : admits.getFirst().ex();
            List<String> ids = new ArrayList<>(answers.size());
            List<StoredResponse> stored = new ArrayList<>(answers.size());
            for (Answer a : answers) {
                ids.add(a.cx().requestId());
                stored.add(a.stored());
            }
            Task.blocking(() -> {
                List<RuntimeException> completed = answers.isEmpty() ? List.of()
                        : perMember(answers.size(), () -> recovery.manager.completeAll(ids, stored));
                return new Outcome(completed, admits.isEmpty() ? null : journal(admits, journaled));
            }).onComplete((outcome, error) -> home.onLoop(() -> {
                for (int i = 0; i < answers.size(); i++) {
                    Answer a = answers.get(i);
                    RuntimeException failure = error != null ? new RuntimeException(error) : outcome.completed().get(i);
                    if (failure != null) {
                        recovery.completionFailed(a.cx(), failure);
                    }
                    recovery.release(a.key(), a.cx().requestId());
                    a.ex().respond(a.cx(), a.response());
                    a.ex().flush();
                }
                for (int i = 0; i < admits.size(); i++) {
                    Admission a = admits.get(i);
                    Response answer = error != null ? recovery.journalFailed(a, error) : outcome.early()[i];
                    if (answer == null) {
                        RecoveryInterceptor.journaled(a.cx());
                    }
                    proceed(a, answer);
                    a.ex().flush();
                }
                batch.returned();
            }));
        }

        private record Outcome(List<RuntimeException> completed, Response[] early) {
        }

        /** Off the worker: the lookups, then the appends; for each admission its early answer, or null to run the handler. */
        private Response[] journal(List<Admission> group, List<JournaledRequest> journaled) {
            Response[] early = new Response[group.size()];
            List<JournaledRequest> toAppend = new ArrayList<>(group.size());
            List<Integer> appendedIndex = new ArrayList<>(group.size());
            for (int i = 0; i < group.size(); i++) {
                try {
                    early[i] = recovery.storedAnswer(group.get(i));
                } catch (RuntimeException e) {
                    early[i] = recovery.journalFailed(group.get(i), e);
                }
                if (early[i] == null) {
                    toAppend.add(journaled.get(i));
                    appendedIndex.add(i);
                }
            }
            if (!toAppend.isEmpty()) {
                List<RuntimeException> failures = perMember(toAppend.size(), () -> recovery.manager.journalAll(toAppend));
                for (int j = 0; j < toAppend.size(); j++) {
                    int i = appendedIndex.get(j);
                    if (failures.get(j) != null) {
                        early[i] = recovery.journalFailed(group.get(i), failures.get(j));
                    }
                }
            }
            return early;
        }
    }

    /** A group call's failure for each member: its own, or the one that failed the whole call. */
    static List<RuntimeException> perMember(int size, Supplier<List<RuntimeException>> call) {
        try {
            return call.get();
        } catch (RuntimeException e) {
            return Collections.nCopies(size, e);
        }
    }
}
