package com.example.quickstart;

import io.stellane.server.Server;
import io.stellane.testing.ServerTest;
import io.stellane.testing.SetUpServer;
import io.stellane.testing.TestClient;
import io.stellane.testing.TestResponse;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

@ServerTest                                 // a runtime and a server on 127.0.0.1, port 0, for this class
class NotesTest {
    @SetUpServer
    static void routes(Server server) {
        Notes.routes(server, new Notes.NoteStore());
    }

    @Test
    void storesANoteAndReadsItBack(TestClient client) {
        TestResponse created = client.postJson("/notes", new Notes.NewNote("buy milk"));
        assertEquals(201, created.status());
        Notes.Note note = created.json(Notes.Note.class);

        Notes.Note read = client.get("/notes/" + note.id()).json(Notes.Note.class);
        assertEquals("buy milk", read.text());
        assertEquals(note.createdAt(), read.createdAt());      // an Instant, as an ISO-8601 string on the wire
        assertEquals(404, client.get("/notes/999").status());
        assertEquals(400, client.post("/notes", "not json").status());
    }
}
