//! The knowledge base over the in-memory store, with a small deterministic embedder, so that
//! upserts, atomicity, persistence, snapshots, filters and errors are tested without a model.

use localrag::{
    DocInput, Filter, Heading, Hooks, IndexOptions, KbOptions, KnowledgeBase, MemoryStore, Mode,
    PageStart, PassageContext, Progress, Result, SearchOptions, SnapshotState, Space, Stage, Store,
    Structure,
};
use serde_json::json;

use crate::common::hash::{HashEmbedder, small_index_options};

fn doc(id: &str, text: &str) -> DocInput {
    DocInput {
        id: Some(id.into()),
        title: Some(format!("Title {id}")),
        text: text.into(),
        ..Default::default()
    }
}

fn small_index() -> KbOptions {
    small_index_options(40, 8)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

fn ids(hits: &[localrag::Hit]) -> Vec<String> {
    hits.iter().map(|h| h.doc_id.clone()).collect()
}

const TOPICS: [&str; 8] = [
    "volcano lava eruption magma",
    "piano sonata concerto orchestra",
    "tomato basil garden soil",
    "rocket orbit launch satellite",
    "glacier ice snow arctic",
    "bitcoin ledger block chain",
    "violin bow string rosin",
    "desert cactus sand dune",
];

/// A new knowledge base with default options over a new in-memory store.
async fn fresh(e: &HashEmbedder) -> (MemoryStore, KnowledgeBase<MemoryStore, &HashEmbedder>) {
    let store = MemoryStore::new();
    let kb = KnowledgeBase::open(store.clone(), e, KbOptions::default())
        .await
        .unwrap();
    (store, kb)
}

fn corpus(n: usize) -> Vec<DocInput> {
    (0..n)
        .map(|i| {
            doc(
                &format!("d{i:03}"),
                &format!(
                    "Document {i} talks about {}. It also mentions item{i} once.",
                    TOPICS[i % TOPICS.len()]
                ),
            )
        })
        .collect()
}

#[test]
fn add_get_list_and_upsert() {
    block_on(async {
        let e = HashEmbedder::new();
        let mut kb = KnowledgeBase::open(MemoryStore::new(), &e, KbOptions::default())
            .await
            .unwrap();
        let r = kb
            .add(vec![
                doc("a", "Cats purr. Cats sleep."),
                doc("b", "Dogs bark loudly."),
            ])
            .await
            .unwrap();
        assert_eq!((r.added, r.updated, r.unchanged, r.chunks), (2, 0, 0, 2));
        assert_eq!(kb.count(), 2);
        assert_eq!(kb.get("a").unwrap().text, "Cats purr. Cats sleep.");
        assert_eq!(
            kb.list().iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let calls = e.calls.get();
        // Same text again: nothing embedded, nothing changed.
        let r = kb
            .add(vec![doc("a", "Cats purr. Cats sleep.")])
            .await
            .unwrap();
        assert_eq!((r.added, r.updated, r.unchanged, r.chunks), (0, 0, 1, 0));
        assert_eq!(e.calls.get(), calls);
        // New source or metadata only: updated without embedding.
        let mut moved = doc("a", "Cats purr. Cats sleep.");
        moved.source = Some("shelf 2".into());
        moved.metadata = Some(json!({ "shelf": 2 }));
        let r = kb.add(vec![moved]).await.unwrap();
        assert_eq!((r.updated, r.chunks), (1, 0));
        assert_eq!(e.calls.get(), calls);
        assert_eq!(kb.get("a").unwrap().source, "shelf 2");
        // New title: chunks are embedded after their title (the default section context), so
        // they are embedded again.
        let mut retitled = doc("a", "Cats purr. Cats sleep.");
        retitled.title = Some("Felines".into());
        let r = kb.add(vec![retitled]).await.unwrap();
        assert_eq!((r.updated, r.chunks), (1, 1));
        assert!(e.calls.get() > calls);
        assert_eq!(kb.get("a").unwrap().title, "Felines");
        let chunk_ids = |kb: &KnowledgeBase<MemoryStore, &HashEmbedder>| -> Vec<u64> {
            kb.get("a").unwrap().chunks.iter().map(|c| c.id).collect()
        };
        let old_chunks = chunk_ids(&kb);
        // Changed text: chunks replaced under new ids; the old text is gone from search.
        let r = kb.add(vec![doc("a", "Parrots talk.")]).await.unwrap();
        assert_eq!((r.updated, r.chunks), (1, 1));
        let new_chunks = chunk_ids(&kb);
        assert!(new_chunks.iter().all(|c| !old_chunks.contains(c)));
        for mode in [Mode::Vector, Mode::Lexical, Mode::Hybrid] {
            let hits = kb
                .search(
                    "cats purr",
                    &SearchOptions {
                        mode,
                        k: 5,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert!(
                hits.iter().all(|h| !old_chunks.contains(&h.chunk_id)),
                "{mode:?}"
            );
        }
        let hits = kb
            .search("parrots", &SearchOptions::default())
            .await
            .unwrap();
        assert_eq!(hits[0].doc_id, "a");
        assert_eq!(hits[0].text, "Parrots talk.");
        assert_eq!(hits[0].title, "Title a");
        // Content-hash ids.
        let r = kb
            .add(vec![DocInput {
                text: "No id here.".into(),
                ..Default::default()
            }])
            .await
            .unwrap();
        assert_eq!(r.ids[0].len(), 32);
        let again = kb
            .add(vec![DocInput {
                text: "No id here.".into(),
                ..Default::default()
            }])
            .await
            .unwrap();
        assert_eq!(
            (again.ids[0].clone(), again.unchanged),
            (r.ids[0].clone(), 1)
        );
    });
}

#[test]
fn hits_carry_offsets_and_scores() {
    block_on(async {
        let e = HashEmbedder::new();
        let mut kb = KnowledgeBase::open(MemoryStore::new(), &e, KbOptions::default())
            .await
            .unwrap();
        let text = "Intro 😀 line.\n\nThe glacier melts in spring. Ice everywhere.";
        kb.add(vec![doc("g", text)]).await.unwrap();
        let hits = kb
            .search(
                "glacier ice",
                &SearchOptions {
                    k: 1,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let h = &hits[0];
        let utf16: Vec<u16> = text.encode_utf16().collect();
        assert_eq!(String::from_utf16(&utf16[h.start..h.end]).unwrap(), h.text);
        assert!(h.scores.vector.is_some() && h.scores.lexical.is_some());
        assert!(h.scores.fused > 0.0);
    });
}

#[test]
fn remove_filters_and_errors() {
    block_on(async {
        let e = HashEmbedder::new();
        let mut kb = KnowledgeBase::open(MemoryStore::new(), &e, KbOptions::default())
            .await
            .unwrap();
        let mut docs = corpus(16);
        for (i, d) in docs.iter_mut().enumerate() {
            d.metadata = Some(json!({ "lang": if i % 2 == 0 { "en" } else { "de" }, "n": i }));
        }
        kb.add(docs).await.unwrap();
        let q = "volcano lava";
        let all = kb
            .search(
                q,
                &SearchOptions {
                    k: 4,
                    rerank: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(ids(&all).contains(&"d000".to_string()));
        let only = kb
            .search(
                q,
                &SearchOptions {
                    k: 4,
                    filter: Filter {
                        doc_ids: Some(vec!["d008".into(), "d003".into()]),
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut got = ids(&only);
        got.sort();
        assert_eq!(got, ["d003", "d008"]);
        let mut meta = serde_json::Map::new();
        meta.insert("lang".into(), json!("de"));
        let de = kb
            .search(
                q,
                &SearchOptions {
                    k: 8,
                    filter: Filter {
                        metadata: meta,
                        ..Default::default()
                    },
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(de.len(), 8);
        assert!(de.iter().all(|h| h.metadata["lang"] == "de"));
        // Remove: never returned again, in any mode.
        assert_eq!(kb.remove(&["d000".into(), "nope".into()]).await.unwrap(), 1);
        for mode in [Mode::Vector, Mode::Lexical, Mode::Hybrid] {
            let hits = kb
                .search(
                    q,
                    &SearchOptions {
                        k: 10,
                        mode,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert!(!ids(&hits).contains(&"d000".to_string()));
        }
        assert_eq!(kb.count(), 15);
        // Typed errors; nothing changes.
        let bad = [
            (vec![doc("x", "  ")], "E_INPUT"),
            (vec![doc("x", "ok"), doc("x", "twice")], "E_INPUT"),
            (
                vec![DocInput {
                    id: Some(String::new()),
                    text: "t".into(),
                    ..Default::default()
                }],
                "E_INPUT",
            ),
            (
                vec![DocInput {
                    text: "t".into(),
                    metadata: Some(json!([1])),
                    ..Default::default()
                }],
                "E_INPUT",
            ),
            (
                vec![doc("x", &"a".repeat(localrag::MAX_DOC_BYTES + 1))],
                "E_INPUT",
            ),
        ];
        for (docs, code) in bad {
            assert_eq!(kb.add(docs).await.unwrap_err().code(), code);
        }
        assert_eq!(kb.count(), 15);
        for (q, k) in [("", 5), ("x", 0), ("x", 101)] {
            let err = kb
                .search(
                    q,
                    &SearchOptions {
                        k,
                        ..Default::default()
                    },
                )
                .await
                .unwrap_err();
            assert_eq!(err.code(), "E_INPUT");
        }
        // NUL bytes are kept as text.
        kb.add(vec![doc("nul", "before\0after words")])
            .await
            .unwrap();
        assert_eq!(kb.get("nul").unwrap().text, "before\0after words");
    });
}

#[test]
fn reopen_keeps_everything_and_snapshots_are_checked() {
    block_on(async {
        let e = HashEmbedder::new();
        let store = MemoryStore::new();
        let mut kb = KnowledgeBase::open(store.clone(), &e, small_index())
            .await
            .unwrap();
        kb.add(corpus(60)).await.unwrap();
        let s = kb.stats();
        assert_eq!((s.documents, s.chunks), (60, 60));
        assert_eq!(
            s.base_segment, 60,
            "past exact_below: an HNSW base was built"
        );
        kb.remove(&["d001".into()]).await.unwrap();
        kb.add(vec![doc("new", "A fresh note about glacier ice.")])
            .await
            .unwrap();
        let queries = [
            "volcano",
            "glacier ice",
            "violin bow",
            "item7 desert",
            "rocket satellite launch",
        ];
        let mut before = Vec::new();
        for q in queries {
            before.push(kb.search(q, &SearchOptions::default()).await.unwrap());
        }
        drop(kb);
        let kb = KnowledgeBase::open(store.clone(), &e, small_index())
            .await
            .unwrap();
        let s = kb.stats();
        assert_eq!(s.snapshot, SnapshotState::Loaded);
        assert_eq!(
            (s.documents, s.chunks, s.tombstones, s.mutable_segment),
            (60, 60, 1, 1)
        );
        for (q, b) in queries.iter().zip(&before) {
            assert_eq!(
                &kb.search(q, &SearchOptions::default()).await.unwrap(),
                b,
                "{q}"
            );
        }
        drop(kb);
        // Damage the snapshot: detected, rebuilt from the stored vectors, same answers.
        let c = store.load().await.unwrap();
        let mut snap = c.meta("snapshot").unwrap().to_vec();
        let at = snap.len() - 100;
        snap[at] ^= 1;
        store.poke(Space::Meta, "snapshot", Some(snap));
        let kb = KnowledgeBase::open(store.clone(), &e, small_index())
            .await
            .unwrap();
        assert!(
            kb.stats()
                .snapshot
                .to_string()
                .starts_with("rebuilt: snapshot checksum"),
            "{}",
            kb.stats().snapshot
        );
        for (q, b) in queries.iter().zip(&before) {
            assert_eq!(
                ids(&kb.search(q, &SearchOptions::default()).await.unwrap()),
                ids(b),
                "{q}"
            );
        }
        drop(kb);
        // The rebuilt snapshot was saved.
        let kb = KnowledgeBase::open(store.clone(), &e, small_index())
            .await
            .unwrap();
        assert_eq!(kb.stats().snapshot, SnapshotState::Loaded);
        drop(kb);
        // Missing snapshot: rebuilt too.
        store.poke(Space::Meta, "snapshot", None);
        let kb = KnowledgeBase::open(store.clone(), &e, small_index())
            .await
            .unwrap();
        assert_eq!(kb.stats().snapshot, SnapshotState::Missing);
        assert_eq!(kb.stats().base_segment, 60);
    });
}

#[test]
fn another_model_is_refused() {
    block_on(async {
        let e = HashEmbedder::new();
        let (store, mut kb) = fresh(&e).await;
        kb.add(corpus(3)).await.unwrap();
        let other = HashEmbedder {
            salt: 7,
            ..HashEmbedder::new()
        };
        drop(kb);
        let err = KnowledgeBase::open(store.clone(), &other, KbOptions::default())
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), "E_MODEL_MISMATCH");
        let wide = HashEmbedder {
            dim: 128,
            ..HashEmbedder::new()
        };
        let err = KnowledgeBase::open(store.clone(), &wide, KbOptions::default())
            .await
            .err()
            .unwrap();
        assert_eq!(err.code(), "E_DIM_MISMATCH");
        // Still intact for the right model.
        let kb = KnowledgeBase::open(store, &e, KbOptions::default())
            .await
            .unwrap();
        assert_eq!(kb.count(), 3);
    });
}

/// With the quota full, a transaction that puts anything is refused however much it deletes (as
/// in Chromium): `remove`, which must put the new write counter, still frees the space, and the
/// same add then fits (found by the browser's real-quota test, tests/e2e/storage.test.mjs).
#[test]
fn a_remove_makes_room_when_the_quota_is_full() {
    block_on(async {
        let e = HashEmbedder::new();
        let (store, mut kb) = fresh(&e).await;
        kb.add(corpus(5)).await.unwrap();
        store.set_quota(Some(store.bytes() + 20));
        let big = || vec![doc("big", &"lava flows slowly. ".repeat(200))];
        assert_eq!(kb.add(big()).await.unwrap_err().code(), "E_QUOTA");
        let generation = kb.generation();
        assert_eq!(
            kb.remove(&["d000".into(), "d001".into(), "d002".into()])
                .await
                .unwrap(),
            3
        );
        assert_eq!(kb.count(), 2);
        assert!(kb.generation() > generation);
        // Stored as removed: a second handle on the store sees it, at the new write counter.
        let reopened = KnowledgeBase::open(store.clone(), &e, KbOptions::default())
            .await
            .unwrap();
        assert_eq!(reopened.count(), 2);
        assert_eq!(reopened.generation(), kb.generation());
        drop(reopened);
        // The room made takes a document again (smaller than the three removed).
        kb.add(vec![doc("after", "Room was made for this document.")])
            .await
            .unwrap();
        assert_eq!(kb.count(), 3);
    });
}

/// A knowledge base whose data disappears without `destroy` (Chromium deletes an IndexedDB
/// database it finds damaged, after a crash, and starts it empty) is reported lost, until it is
/// restored from an export or destroyed; one that never existed, one destroyed, and one made
/// before the note existed open empty as before.
#[test]
fn a_knowledge_base_deleted_behind_its_back_is_reported_lost() {
    block_on(async {
        let e = HashEmbedder::new();
        let (store, mut kb) = fresh(&e).await;
        assert_eq!(store.marked().await, Some(true), "open leaves the note");
        kb.add(corpus(5)).await.unwrap();
        let file = kb.export().await.unwrap();
        drop(kb);
        store.wipe();
        for _ in 0..2 {
            let err = KnowledgeBase::open(store.clone(), &e, KbOptions::default())
                .await
                .err()
                .expect("a lost knowledge base does not open empty");
            assert_eq!(err.code(), "E_LOST", "{err}");
            assert!(err.message().contains("export"), "{err}");
            assert_eq!(store.bytes(), 0, "the failed open stores nothing");
        }
        // Restored from the export: whole, and opens again.
        let restored = KnowledgeBase::import(store.clone(), &e, KbOptions::default(), &file, true)
            .await
            .unwrap();
        assert_eq!(restored.count(), 5);
        drop(restored);
        let reopened = KnowledgeBase::open(store.clone(), &e, KbOptions::default())
            .await
            .unwrap();
        assert_eq!(reopened.count(), 5);
        drop(reopened);
        // Destroyed (the data, then the note): a new, empty knowledge base.
        store.wipe();
        store.unmark();
        let again = KnowledgeBase::open(store.clone(), &e, KbOptions::default())
            .await
            .unwrap();
        assert_eq!(again.count(), 0);
        drop(again);
        // Lost again, and this time imported without `overwrite` (the name holds no documents).
        store.wipe();
        let imported = KnowledgeBase::import(store.clone(), &e, KbOptions::default(), &file, false)
            .await
            .unwrap();
        assert_eq!(imported.count(), 5);
        drop(imported);
        // Stored before the note existed: opening it leaves the note.
        store.unmark();
        drop(
            KnowledgeBase::open(store.clone(), &e, KbOptions::default())
                .await
                .unwrap(),
        );
        assert_eq!(store.marked().await, Some(true));
    });
}

/// A document with pages and headings (what `localrag/loaders` makes of a PDF): no chunk runs
/// across a heading or a page that begins a line, a heading alone joins the text under it, and
/// every hit and chunk says its pages and heading path.
#[test]
fn chunks_are_indexed_under_their_title_and_heading_path() {
    block_on(async {
        let e = HashEmbedder::new();
        // Two manuals with the same section: only the title says which is which.
        let manual = |id: &str, title: &str| DocInput {
            id: Some(id.into()),
            title: Some(title.into()),
            text: "Cleaning\n\nWipe the outside with a damp cloth.".into(),
            structure: Some(Structure {
                pages: Vec::new(),
                headings: vec![Heading {
                    level: 1,
                    start: 0,
                    end: 8,
                }],
            }),
            ..Default::default()
        };
        let lexical = SearchOptions {
            mode: Mode::Lexical,
            ..Default::default()
        };
        let manifest = |store: &MemoryStore| {
            let bytes = block_on(store.get(Space::Meta, "manifest"))
                .unwrap()
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        let (store, mut kb) = fresh(&e).await;
        assert_eq!(kb.options().context, PassageContext::TitleAndHeadings);
        assert_eq!(manifest(&store)["context"], "title-and-headings");
        kb.add(vec![
            manual("k", "Kettle manual"),
            manual("p", "Purifier manual"),
        ])
        .await
        .unwrap();
        let hits = kb.search("purifier cloth", &lexical).await.unwrap();
        assert_eq!(ids(&hits)[0], "p");
        assert_eq!(
            hits[0].text,
            "Cleaning\n\nWipe the outside with a damp cloth."
        );
        assert_eq!(hits[0].heading_path, vec!["Cleaning"]);
        // Reopened with other options, it keeps the context it was made with.
        let opts = KbOptions {
            context: PassageContext::None,
            ..KbOptions::default()
        };
        let mut kb = KnowledgeBase::open(store.clone(), &e, opts).await.unwrap();
        assert_eq!(kb.options().context, PassageContext::TitleAndHeadings);
        let hits = kb.search("purifier cloth", &lexical).await.unwrap();
        assert_eq!(ids(&hits)[0], "p");
        // A new title is part of what was embedded: the chunks are indexed again.
        let r = kb.add(vec![manual("p", "Heater manual")]).await.unwrap();
        assert_eq!((r.updated, r.chunks), (1, 1));
        let hits = kb.search("heater cloth", &lexical).await.unwrap();
        assert_eq!(ids(&hits)[0], "p");
        assert!(kb.search("purifier", &lexical).await.unwrap().is_empty());
        // A knowledge base made without a context (as before it existed) stays without: its
        // manifest says nothing, and a title neither finds its chunks nor re-embeds them.
        let old = MemoryStore::new();
        let mut kb = KnowledgeBase::open(old.clone(), &e, opts).await.unwrap();
        assert!(manifest(&old).get("context").is_none());
        kb.add(vec![manual("p", "Purifier manual")]).await.unwrap();
        let mut kb = KnowledgeBase::open(old.clone(), &e, KbOptions::default())
            .await
            .unwrap();
        assert_eq!(kb.options().context, PassageContext::None);
        assert!(kb.search("purifier", &lexical).await.unwrap().is_empty());
        let r = kb.add(vec![manual("p", "Heater manual")]).await.unwrap();
        assert_eq!(
            (r.updated, r.chunks),
            (1, 0),
            "updated without re-embedding"
        );
    })
}

#[test]
fn chunks_keep_to_sections_and_pages_and_say_where_they_are() {
    block_on(async {
        let e = HashEmbedder::new();
        let (_store, mut kb) = fresh(&e).await;
        // Small chunks, so that without cuts the sections would share chunks.
        let text =
            "Manual\n\nIntro volcano text.\n\nInstallation\n\nLinux\n\nRun the piano installer \
                    with the prefix flag. It needs space.\n\nThe next page starts here with tomato \
                    soil.\n\nWindows\n\nThe rocket service starts at boot."
                .to_string();
        let at = |s: &str| text[..text.find(s).unwrap()].encode_utf16().count() as u32;
        let h = |level, s: &str| Heading {
            level,
            start: at(s),
            end: at(s) + s.encode_utf16().count() as u32,
        };
        let structure = Structure {
            pages: vec![
                PageStart {
                    number: 1,
                    start: 0,
                },
                PageStart {
                    number: 2,
                    start: at("The next page"),
                },
            ],
            headings: vec![
                h(1, "Manual"),
                h(1, "Installation"),
                h(2, "Linux"),
                h(2, "Windows"),
            ],
        };
        let input = DocInput {
            id: Some("m".into()),
            text: text.clone(),
            structure: Some(structure.clone()),
            ..Default::default()
        };
        kb.add(vec![input.clone()]).await.unwrap();
        let d = kb.get("m").unwrap();
        assert_eq!(d.structure.as_ref(), Some(&structure));
        let cuts: Vec<usize> = ["Installation", "The next page", "Windows"]
            .iter()
            .map(|s| at(s) as usize)
            .collect();
        for c in &d.chunks {
            assert_eq!(
                text.encode_utf16().collect::<Vec<_>>()[c.start..c.end],
                c.text.encode_utf16().collect::<Vec<_>>()[..]
            );
            for &cut in &cuts {
                assert!(
                    !(c.start < cut && cut < c.end),
                    "chunk {:?} runs across {cut}",
                    c.text
                );
            }
        }
        // "Installation" has nothing under it but "Linux": one part, starting with both.
        let linux = d.chunks.iter().find(|c| c.text.contains("piano")).unwrap();
        assert!(linux.text.starts_with("Installation"), "{:?}", linux.text);
        assert_eq!(linux.heading_path, vec!["Installation", "Linux"]);
        assert_eq!(linux.pages, Some([1, 1]));
        let page2 = d.chunks.iter().find(|c| c.text.contains("tomato")).unwrap();
        assert_eq!(
            (page2.pages, page2.heading_path.clone()),
            (
                Some([2, 2]),
                vec!["Installation".to_string(), "Linux".into()]
            )
        );
        let windows = d.chunks.iter().find(|c| c.text.contains("rocket")).unwrap();
        assert_eq!(windows.heading_path, vec!["Installation", "Windows"]);
        // Hits say the same.
        let hits = kb
            .search("rocket service boot", &SearchOptions::default())
            .await
            .unwrap();
        let top = &hits[0];
        assert!(top.text.contains("rocket"));
        assert_eq!(
            (top.pages, top.heading_path.clone()),
            (
                Some([2, 2]),
                vec!["Installation".to_string(), "Windows".into()]
            )
        );
        // A document without a structure: no pages, an empty path.
        kb.add(vec![doc("plain", "Glacier ice and arctic snow.")])
            .await
            .unwrap();
        let p = kb.get("plain").unwrap();
        assert_eq!(
            (
                p.chunks[0].pages,
                p.chunks[0].heading_path.len(),
                p.structure
            ),
            (None, 0, None)
        );
        // The same text with another structure is chunked again; the same structure is unchanged.
        assert_eq!(kb.add(vec![input.clone()]).await.unwrap().unchanged, 1);
        let mut moved = input.clone();
        moved.structure.as_mut().unwrap().pages.pop();
        let r = kb.add(vec![moved]).await.unwrap();
        assert_eq!((r.updated, r.chunks > 0), (1, true));
        // A structure that does not fit the text is refused, and nothing is stored.
        let mut bad = input.clone();
        bad.id = Some("bad".into());
        bad.structure.as_mut().unwrap().headings[1].end = 100_000;
        let err = kb.add(vec![bad]).await.unwrap_err();
        assert_eq!(err.code(), "E_INPUT");
        assert!(err.message().starts_with("document 0 structure"), "{err}");
        assert!(kb.get("bad").is_none());
    });
}

#[test]
fn a_failed_write_changes_nothing() {
    block_on(async {
        let e = HashEmbedder::new();
        let (store, mut kb) = fresh(&e).await;
        kb.add(corpus(5)).await.unwrap();
        let bytes = store.bytes();
        let before = kb
            .search("volcano", &SearchOptions::default())
            .await
            .unwrap();
        store.set_quota(Some(bytes + 100));
        let err = kb.add(corpus(12)).await.unwrap_err();
        assert_eq!(err.code(), "E_QUOTA");
        assert_eq!(store.bytes(), bytes, "the store holds what it held");
        assert_eq!(kb.count(), 5, "memory holds what it held");
        assert_eq!(
            kb.search("volcano", &SearchOptions::default())
                .await
                .unwrap(),
            before
        );
        // An update that fails keeps the old version.
        let err = kb
            .add(vec![doc("d000", &"lava ".repeat(500))])
            .await
            .unwrap_err();
        assert_eq!(err.code(), "E_QUOTA");
        assert!(kb.get("d000").unwrap().text.starts_with("Document 0"));
        drop(kb);
        store.set_quota(None);
        let mut kb = KnowledgeBase::open(store.clone(), &e, KbOptions::default())
            .await
            .unwrap();
        assert_eq!(kb.count(), 5);
        assert_eq!(
            kb.search("volcano", &SearchOptions::default())
                .await
                .unwrap(),
            before
        );
        kb.add(corpus(12)).await.unwrap();
        assert_eq!(kb.count(), 12);
    });
}

#[test]
fn mmr_keeps_near_duplicates_apart() {
    block_on(async {
        let e = HashEmbedder::new();
        let mut kb = KnowledgeBase::open(MemoryStore::new(), &e, KbOptions::default())
            .await
            .unwrap();
        let mut docs: Vec<DocInput> = (0..4)
            .map(|i| {
                doc(
                    &format!("copy{i}"),
                    "The volcano erupted and lava flowed down the volcano.",
                )
            })
            .collect();
        docs.push(doc(
            "other",
            "A volcano observatory measures seismic tremors.",
        ));
        docs.extend((0..10).map(|i| {
            doc(
                &format!("filler{i}"),
                &format!("Filler note {i} about gardening, soil and compost."),
            )
        }));
        kb.add(docs).await.unwrap();
        let plain = kb
            .search(
                "volcano lava",
                &SearchOptions {
                    k: 2,
                    rerank: false,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(plain.iter().all(|h| h.doc_id.starts_with("copy")));
        let diverse = kb
            .search(
                "volcano lava",
                &SearchOptions {
                    k: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(diverse[0].doc_id.starts_with("copy"));
        assert_eq!(diverse[1].doc_id, "other");
    });
}

/// Everything a caller can see of a knowledge base: documents with chunks, and search results.
async fn visible(kb: &KnowledgeBase<MemoryStore, &HashEmbedder>) -> String {
    let mut out = String::new();
    for info in kb.list() {
        let d = kb.get(&info.id).unwrap();
        out += &format!("{:?} {:?}\n", d, info.metadata);
    }
    for q in ["cats", "document 3 words", "nothing here"] {
        let hits = kb.search(q, &SearchOptions::default()).await.unwrap();
        for h in hits {
            out += &format!("{} {} {:.6}\n", h.doc_id, h.chunk_id, h.score);
        }
    }
    out
}

#[test]
fn export_then_import_is_the_same_knowledge_base() {
    block_on(async {
        let e = HashEmbedder::new();
        // Small enough an exact-search threshold that the export carries an HNSW snapshot.
        let opts = KbOptions {
            index: IndexOptions {
                exact_below: 8,
                ..IndexOptions::default()
            },
            ..KbOptions::default()
        };
        let store = MemoryStore::new();
        let mut kb = KnowledgeBase::open(store.clone(), &e, opts).await.unwrap();
        kb.add(corpus(30)).await.unwrap();
        kb.remove(&["d003".to_string()]).await.unwrap();
        let file = kb.export().await.unwrap();
        assert!(store.load().await.unwrap().meta("snapshot").is_some());

        let copy = MemoryStore::new();
        let imported = KnowledgeBase::import(copy.clone(), &e, opts, &file, false)
            .await
            .unwrap();
        assert_eq!(imported.stats().snapshot, SnapshotState::Loaded);
        assert_eq!(visible(&imported).await, visible(&kb).await);
        // Byte-equal on the way back out, and the stored records are the same bytes.
        assert_eq!(imported.export().await.unwrap(), file);
        let (a, b) = (store.load().await.unwrap(), copy.load().await.unwrap());
        assert_eq!(a.docs, b.docs);
        assert_eq!(a.chunks, b.chunks);
        assert_eq!(a.meta("snapshot"), b.meta("snapshot"));
        // Reopening the imported store gives the same again.
        drop(imported);
        let reopened = KnowledgeBase::open(copy, &e, opts).await.unwrap();
        assert_eq!(visible(&reopened).await, visible(&kb).await);
    })
}

#[test]
fn import_refuses_other_models_damage_and_occupied_names_without_changing_anything() {
    block_on(async {
        let e = HashEmbedder::new();
        let (_, mut kb) = fresh(&e).await;
        kb.add(corpus(5)).await.unwrap();
        let file = kb.export().await.unwrap();

        let target = MemoryStore::new();
        let mut existing = KnowledgeBase::open(target.clone(), &e, KbOptions::default())
            .await
            .unwrap();
        existing
            .add(vec![doc("keep", "A document that must survive.")])
            .await
            .unwrap();
        drop(existing);
        let before = target.load().await.unwrap();
        let import = |bytes: Vec<u8>, emb: HashEmbedder, overwrite: bool| {
            let target = target.clone();
            async move {
                KnowledgeBase::import(target, &emb, KbOptions::default(), &bytes, overwrite)
                    .await
                    .err()
                    .map(|err| err.code())
            }
        };
        let other = HashEmbedder {
            salt: 3,
            ..HashEmbedder::new()
        };
        assert_eq!(
            import(file.clone(), other, true).await,
            Some("E_MODEL_MISMATCH")
        );
        let wider = HashEmbedder {
            dim: 32,
            ..HashEmbedder::new()
        };
        assert_eq!(
            import(file.clone(), wider, true).await,
            Some("E_DIM_MISMATCH")
        );
        let mut damaged = file.clone();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 0xff;
        assert_eq!(
            import(damaged, HashEmbedder::new(), true).await,
            Some("E_CORRUPT")
        );
        assert_eq!(
            import(file[..file.len() - 9].to_vec(), HashEmbedder::new(), true).await,
            Some("E_CORRUPT")
        );
        assert_eq!(
            import(b"hello".to_vec(), HashEmbedder::new(), true).await,
            Some("E_CORRUPT")
        );
        assert_eq!(
            import(file.clone(), HashEmbedder::new(), false).await,
            Some("E_INPUT")
        );
        assert_eq!(
            target.load().await.unwrap(),
            before,
            "a refused import changed the store"
        );
        // A full quota: the write fails and the old contents stay.
        target.set_quota(Some(target.bytes() + 10));
        assert_eq!(
            import(file.clone(), HashEmbedder::new(), true).await,
            Some("E_QUOTA")
        );
        assert_eq!(target.load().await.unwrap(), before);
        target.set_quota(None);
        // With overwrite it replaces the old document.
        let kb2 = KnowledgeBase::import(target.clone(), &e, KbOptions::default(), &file, true)
            .await
            .unwrap();
        assert!(kb2.get("keep").is_none());
        assert_eq!(kb2.list().len(), 5);
    })
}

#[test]
fn a_second_handle_sees_writes_after_refresh() {
    block_on(async {
        let e = HashEmbedder::new();
        let store = MemoryStore::new();
        let mut a = KnowledgeBase::open(store.clone(), &e, KbOptions::default())
            .await
            .unwrap();
        let mut b = KnowledgeBase::open(store.clone(), &e, KbOptions::default())
            .await
            .unwrap();
        assert!(!b.refresh().await.unwrap());
        a.add(vec![doc("x", "Zebras gallop across the savanna.")])
            .await
            .unwrap();
        assert!(b.get("x").is_none());
        assert!(b.refresh().await.unwrap());
        assert_eq!(b.generation(), a.generation());
        let hits = b.search("zebras", &SearchOptions::default()).await.unwrap();
        assert_eq!(hits[0].doc_id, "x");
        // b writes after refreshing; a sees b's write and keeps its own.
        b.add(vec![doc("y", "Yaks live high in the mountains.")])
            .await
            .unwrap();
        a.remove(&["nothing".to_string()]).await.unwrap();
        assert!(a.refresh().await.unwrap());
        assert_eq!(a.list().len(), 2);
        a.remove(&["x".to_string()]).await.unwrap();
        assert!(b.refresh().await.unwrap());
        assert_eq!(
            b.list().iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["y"]
        );
        assert!(!b.refresh().await.unwrap());
        // Deleted underneath: a typed error, not a panic.
        store.clear().await.unwrap();
        assert_eq!(b.refresh().await.unwrap_err().code(), "E_CLOSED");
    })
}

#[test]
fn an_add_stopped_by_its_progress_callback_stores_nothing() {
    block_on(async {
        let e = HashEmbedder::new();
        let (store, mut kb) = fresh(&e).await;
        kb.add(corpus(2)).await.unwrap();
        let before = store.load().await.unwrap();
        /// Stops the add at a stage, as an aborted signal does.
        struct StopAt(Stage);
        impl Hooks for StopAt {
            fn progress(&mut self, p: Progress) -> Result<()> {
                if p.stage == self.0 {
                    Err(localrag::Error::aborted())
                } else {
                    Ok(())
                }
            }
        }
        for stop_at in [Stage::Chunk, Stage::Embed, Stage::Store] {
            let err = kb
                .add_with(corpus(10), &mut StopAt(stop_at))
                .await
                .unwrap_err();
            assert_eq!(err.code(), "E_ABORTED", "{stop_at:?}");
            assert_eq!(store.load().await.unwrap(), before, "{stop_at:?}");
            assert_eq!(kb.list().len(), 2);
        }
        kb.add(corpus(10)).await.unwrap();
        assert_eq!(kb.list().len(), 10);
    })
}
