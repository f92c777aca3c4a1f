package com.example.quickstart;

import io.stellane.app.App;
import io.stellane.config.RuntimeConfig;
import io.stellane.server.Response;
import io.stellane.server.Server;
import io.stellane.task.Task;

import java.time.Instant;
import java.util.HashMap;
import java.util.Map;

/** A notes service: POST /notes stores a note, GET /notes/{id} reads it back. */
public final class Notes {
    public record NewNote(String text) {}

    public record Note(long id, String text, Instant createdAt) {}

    /** Where notes live. Its calls block (a lock here, JDBC in a real service), so they run in Task.blocking. */
    public static final class NoteStore {
        private final Map<Long, Note> notes = new HashMap<>();

        public synchronized Note add(String text) {
            Note note = new Note(notes.size() + 1, text, Instant.now());
            notes.put(note.id(), note);
            return note;
        }

        public synchronized Note find(long id) {
            return notes.get(id);
        }
    }

    public static Server routes(Server server, NoteStore store) {
        return server
                .post("/notes", ctx -> {
                    NewNote in = ctx.request().json(NewNote.class);       // not JSON: 400
                    if (in.text() == null || in.text().isBlank()) {
                        return Task.completed(Response.badRequest("text is required"));
                    }
                    return Task.blocking(() -> store.add(in.text()))     // on a virtual thread, not the event loop
                            .map(Response::created);                       // 201 with the note as JSON
                })
                .get("/notes/{id}", ctx -> Task.blocking(() -> store.find(ctx.paramLong("id")))
                        .map(note -> note == null ? Response.error(404, "no such note") : Response.json(note)));
    }

    public static void main(String[] args) {
        NoteStore store = new NoteStore();
        App.builder(RuntimeConfig.defaults())
                .listen("0.0.0.0", 8080)                      // logs "listening on http://0.0.0.0:8080"
                .start(setup -> routes(setup.server(), store))
                .awaitStop();                                  // Ctrl-C or SIGTERM: requests in flight finish first
    }
}
