//! A document's structure: where its pages begin and its headings stand, as a loader found them
//! (`localrag/loaders` for PDF, Word, HTML and Markdown). Offsets are UTF-16 code units into the
//! text, what JavaScript strings index. The chunker cuts at headings and at pages that begin a
//! paragraph, and every chunk is located by them: its page range and its heading path.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

/// Most pages or headings one document may declare.
pub const MAX_STRUCTURE_ENTRIES: usize = 1 << 20;

/// Where a document's pages begin and its headings stand.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(rename = "DocumentStructure")]
pub struct Structure {
    /// The pages, in order: page `number` begins at `start`.
    #[serde(default)]
    #[ts(as = "Option<Vec<PageStart>>", optional)]
    pub pages: Vec<PageStart>,
    /// The headings, in order, not overlapping.
    #[serde(default)]
    #[ts(as = "Option<Vec<Heading>>", optional)]
    pub headings: Vec<Heading>,
}

/// Where a page begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct PageStart {
    /// 1-based page number, as printed or counted.
    pub number: u32,
    /// UTF-16 offset of the page's first character in the text.
    pub start: u32,
}

/// A heading: its text is `text.slice(start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Heading {
    /// 1 (a title or chapter) to 6.
    pub level: u8,
    pub start: u32,
    pub end: u32,
}

/// Where a chunk stands in its document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// First and last page the chunk's text is on.
    pub pages: Option<[u32; 2]>,
    /// The headings above it, outermost first ("Installation", "Linux").
    pub heading_path: Vec<String>,
}

impl Structure {
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty() && self.headings.is_empty()
    }

    /// Checks it against the text it describes (`what` names the document in the message).
    pub fn check(&self, text: &str, what: &str) -> Result<()> {
        let bad = |m: String| Error::Input(format!("{what} structure: {m}"));
        if self.pages.len() > MAX_STRUCTURE_ENTRIES || self.headings.len() > MAX_STRUCTURE_ENTRIES {
            return Err(bad(format!(
                "more than {MAX_STRUCTURE_ENTRIES} pages or headings"
            )));
        }
        let mut last = 0;
        for (i, p) in self.pages.iter().enumerate() {
            if p.number == 0 {
                return Err(bad(format!("page {i} has number 0 (pages count from 1)")));
            }
            if p.start < last {
                return Err(bad(format!("page {i} starts before the page above it")));
            }
            last = p.start;
        }
        let mut end = 0;
        for (i, h) in self.headings.iter().enumerate() {
            if !(1..=6).contains(&h.level) {
                return Err(bad(format!("heading {i} has level {} (1 to 6)", h.level)));
            }
            if h.start >= h.end {
                return Err(bad(format!(
                    "heading {i} is empty (start {} end {})",
                    h.start, h.end
                )));
            }
            if h.start < end {
                return Err(bad(format!(
                    "heading {i} overlaps or precedes the heading above it"
                )));
            }
            end = h.end;
        }
        // Every offset inside the text and on a character boundary.
        self.layout(text).map(|_| ()).ok_or_else(|| {
            bad("an offset is past the end of the text or inside a character (offsets are UTF-16 code units)".into())
        })
    }

    /// The structure against its text, every offset in bytes too (one pass over the text);
    /// `None` when an offset is past the end or inside a character.
    pub fn layout(&self, text: &str) -> Option<Layout> {
        let mut offsets: Vec<usize> = self
            .pages
            .iter()
            .map(|p| p.start as usize)
            .chain(
                self.headings
                    .iter()
                    .flat_map(|h| [h.start as usize, h.end as usize]),
            )
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        let bytes = byte_offsets(text, &offsets)?;
        let at = |u: u32| bytes[offsets.binary_search(&(u as usize)).expect("offset listed")];
        Some(Layout {
            pages: self.pages.iter().map(|p| (*p, at(p.start))).collect(),
            headings: self
                .headings
                .iter()
                .map(|h| (*h, at(h.start), at(h.end)))
                .collect(),
        })
    }
}

/// A [`Structure`] resolved against its text: each page with its byte offset, each heading with
/// its byte span. Made once per document, so that locating a passage never walks the text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    pages: Vec<(PageStart, usize)>,
    headings: Vec<(Heading, usize, usize)>,
}

impl Layout {
    /// Byte offsets where a chunk must not continue across: each heading's start, and each
    /// page's start where it begins a line (a page break inside a line of text is not one).
    /// Sorted, without 0 and the end.
    pub fn cuts(&self, text: &str) -> Vec<usize> {
        let mut cuts: Vec<usize> = self
            .headings
            .iter()
            .map(|&(_, b, _)| b)
            .chain(
                self.pages
                    .iter()
                    .map(|&(_, b)| b)
                    .filter(|&b| text[..b].ends_with('\n')),
            )
            .filter(|&b| b > 0 && b < text.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    }

    /// The byte end of the heading that starts at byte `at`, if one does.
    pub fn heading_end_at(&self, at: usize) -> Option<usize> {
        let i = self.headings.partition_point(|&(_, b, _)| b < at);
        self.headings
            .get(i)
            .filter(|&&(_, b, _)| b == at)
            .map(|&(_, _, e)| e)
    }

    /// Where the passage `text[start..end]` stands; `start16`/`end16` are the same range in
    /// UTF-16 code units.
    pub fn locate(&self, text: &str, start: usize, start16: usize, end16: usize) -> Location {
        let page_at = |x: usize| {
            let i = self.pages.partition_point(|(p, _)| p.start as usize <= x);
            (i > 0).then(|| self.pages[i - 1].0.number)
        };
        let last = end16.saturating_sub(1).max(start16);
        let pages = match (page_at(start16), page_at(last)) {
            (Some(a), Some(b)) => Some([a, b.max(a)]),
            (None, Some(b)) => Some([b, b]),
            _ => None,
        };
        // A chunk that begins with headings ("Installation", "Linux", then text) is under them.
        let mut pos = start;
        let mut upto = start16;
        let mut i = self
            .headings
            .partition_point(|(h, _, _)| (h.start as usize) < start16);
        while let Some(&(h, hs, he)) = self.headings.get(i) {
            if h.start as usize >= end16 || text.get(pos..hs).is_some_and(|t| !t.trim().is_empty())
            {
                break;
            }
            pos = he;
            upto = h.end as usize - 1;
            i += 1;
        }
        let mut stack: Vec<&(Heading, usize, usize)> = Vec::new();
        for h in self
            .headings
            .iter()
            .take_while(|(h, _, _)| h.start as usize <= upto)
        {
            while stack.last().is_some_and(|t| t.0.level >= h.0.level) {
                stack.pop();
            }
            stack.push(h);
        }
        Location {
            pages,
            heading_path: stack
                .iter()
                .map(|&&(_, a, b)| text[a..b].to_string())
                .collect(),
        }
    }
}

/// Converts sorted UTF-16 offsets to byte offsets; `None` when one is past the end or inside a
/// character.
pub fn byte_offsets(text: &str, sorted16: &[usize]) -> Option<Vec<usize>> {
    let mut out = Vec::with_capacity(sorted16.len());
    let mut next = 0;
    let mut u16pos = 0;
    for (b, ch) in text.char_indices() {
        while next < sorted16.len() && sorted16[next] <= u16pos {
            if sorted16[next] < u16pos {
                return None;
            }
            out.push(b);
            next += 1;
        }
        u16pos += ch.len_utf16();
    }
    while next < sorted16.len() {
        if sorted16[next] != u16pos {
            return None;
        }
        out.push(text.len());
        next += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> (String, Structure) {
        // "Intro" (h1) at 0..5, "Linux" (h2) at 16..21; page 2 begins at 16; "é" and "😀"
        // make UTF-16 and bytes differ.
        let text = "Intro\n\nCafé 😀.\n\nLinux\n\nRun it.".to_string();
        let h = |level, a: &str| {
            let start = text[..text.find(a).unwrap()].encode_utf16().count() as u32;
            Heading {
                level,
                start,
                end: start + a.encode_utf16().count() as u32,
            }
        };
        let s = Structure {
            pages: vec![
                PageStart {
                    number: 1,
                    start: 0,
                },
                PageStart {
                    number: 2,
                    start: h(2, "Linux").start,
                },
            ],
            headings: vec![h(1, "Intro"), h(2, "Linux")],
        };
        (text, s)
    }

    #[test]
    fn locates_pages_and_heading_paths_in_utf16() {
        let (text, s) = doc();
        s.check(&text, "document 0").unwrap();
        let u = |a: &str| text[..text.find(a).unwrap()].encode_utf16().count();
        let b = |a: &str| text.find(a).unwrap();
        let layout = s.layout(&text).unwrap();
        let l = layout.locate(&text, b("Café"), u("Café"), u("Café") + 4);
        assert_eq!(l.pages, Some([1, 1]));
        assert_eq!(l.heading_path, vec!["Intro"]);
        let l = layout.locate(&text, b("Run"), u("Run"), u("Run") + 7);
        assert_eq!(
            (l.pages, l.heading_path),
            (Some([2, 2]), vec!["Intro".to_string(), "Linux".into()])
        );
        let l = layout.locate(&text, 0, 0, text.encode_utf16().count());
        assert_eq!(l.pages, Some([1, 2]));
        // Cuts: both headings' starts (0 left out) and page 2 (the same offset).
        assert_eq!(layout.cuts(&text), vec![text.find("Linux").unwrap()]);
    }

    #[test]
    fn bad_structures_are_input_errors() {
        let (text, s) = doc();
        let emoji = text[..text.find('😀').unwrap()].encode_utf16().count() as u32;
        let cases: Vec<(Structure, &str)> = vec![
            (
                Structure {
                    pages: vec![PageStart {
                        number: 0,
                        start: 0,
                    }],
                    ..Default::default()
                },
                "number 0",
            ),
            (
                Structure {
                    pages: vec![
                        PageStart {
                            number: 1,
                            start: 5,
                        },
                        PageStart {
                            number: 2,
                            start: 1,
                        },
                    ],
                    ..Default::default()
                },
                "before",
            ),
            (
                Structure {
                    headings: vec![Heading {
                        level: 7,
                        start: 0,
                        end: 1,
                    }],
                    ..Default::default()
                },
                "level 7",
            ),
            (
                Structure {
                    headings: vec![Heading {
                        level: 1,
                        start: 3,
                        end: 3,
                    }],
                    ..Default::default()
                },
                "empty",
            ),
            (
                Structure {
                    headings: vec![
                        Heading {
                            level: 1,
                            start: 0,
                            end: 4,
                        },
                        Heading {
                            level: 2,
                            start: 2,
                            end: 5,
                        },
                    ],
                    ..Default::default()
                },
                "overlaps",
            ),
            (
                Structure {
                    headings: vec![Heading {
                        level: 1,
                        start: 0,
                        end: 999,
                    }],
                    ..Default::default()
                },
                "past the end",
            ),
            (
                Structure {
                    headings: vec![Heading {
                        level: 1,
                        start: emoji + 1,
                        end: emoji + 2,
                    }],
                    ..Default::default()
                },
                "inside a character",
            ),
        ];
        for (st, want) in cases {
            let e = st.check(&text, "document 3").unwrap_err();
            assert_eq!(e.code(), "E_INPUT");
            assert!(
                e.message().contains(want) && e.message().starts_with("document 3 structure"),
                "{e}"
            );
        }
        assert!(s.check(&text, "d").is_ok());
    }

    #[test]
    fn a_page_break_inside_a_paragraph_is_no_cut() {
        let text = "One sentence runs on\nover the page. Next.";
        let mid = text.find("over").unwrap() as u32;
        let inside = text.find("runs").unwrap() as u32;
        let s = Structure {
            pages: vec![
                PageStart {
                    number: 1,
                    start: 0,
                },
                PageStart {
                    number: 2,
                    start: mid,
                },
                PageStart {
                    number: 3,
                    start: inside + 2,
                },
            ],
            headings: vec![],
        };
        // The break after a line end is a cut; the one inside a line is not.
        assert_eq!(s.layout(text).unwrap().cuts(text), vec![mid as usize]);
    }
}
