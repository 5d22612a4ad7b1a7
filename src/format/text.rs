//! Text that fits a terminal or a printed page of [`TEXT_WIDTH`] columns,
//! counted in display width (a CJK character is two columns): words
//! wrapped ([`wrap`]) and tables laid out ([`table`]) so that no line is
//! wider, and nothing is cut off.
//!
//! A table too wide for the page wraps its labels (names are long) and its
//! figure headings at their spaces, and when the figures still do not fit
//! beside labels of at least half their width, it is printed in panels:
//! the same rows, each panel with the labels and some of the figures.

use super::width;

/// The widest line the command prints in a table or a report.
pub const TEXT_WIDTH: usize = 120;

/// Narrowest a label column is wrapped to (or its natural width, if less;
/// at least half of it).
const MIN_LABEL: usize = 12;

/// Space between columns.
const GAP: &str = "  ";

/// Splits `s` into lines of at most `max` columns: at spaces where it can;
/// a word too long for a line is broken between wide (CJK) characters,
/// which need no space to break, and keeps its runs of narrow characters
/// (numbers, Latin words) whole unless one alone is wider than a line.
pub fn wrap(s: &str, max: usize) -> Vec<String> {
    let max = max.max(2);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        let sep = if line.is_empty() { "" } else { " " };
        if width(&line) + width(sep) + width(word) <= max {
            line.push_str(sep);
            line.push_str(word);
            continue;
        }
        if width(word) <= max {
            lines.push(std::mem::take(&mut line));
            line.push_str(word);
            continue;
        }
        // Too long for any line: break it into pieces, a wide character
        // or a run of narrow ones each, and fill lines with those.
        if !line.is_empty() {
            line.push(' ');
        }
        for piece in pieces(word) {
            if width(&line) + width(&piece) > max && !line.trim().is_empty() {
                lines.push(std::mem::take(&mut line).trim_end().to_string());
            }
            for c in piece.chars() {
                if width(&line) + width(c.encode_utf8(&mut [0; 4])) > max {
                    lines.push(std::mem::take(&mut line));
                }
                line.push(c);
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A word's pieces: each wide character alone, each run of narrow ones.
fn pieces(word: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in word.chars() {
        let wide = width(c.encode_utf8(&mut [0; 4])) > 1;
        match out.last_mut() {
            Some(p) if !wide && !ends_wide(p) => p.push(c),
            _ => out.push(c.to_string()),
        }
    }
    out
}

fn ends_wide(w: &str) -> bool {
    w.chars()
        .last()
        .is_some_and(|c| width(c.encode_utf8(&mut [0; 4])) > 1)
}

/// Every line of `text` wider than [`TEXT_WIDTH`] wrapped; the others, and
/// blank lines, kept as they are.
pub fn wrap_lines(text: &str) -> String {
    let mut out = String::new();
    for l in text.lines() {
        if width(l) <= TEXT_WIDTH {
            out.push_str(l);
            out.push('\n');
            continue;
        }
        for w in wrap(l, TEXT_WIDTH) {
            out.push_str(&w);
            out.push('\n');
        }
    }
    out
}

/// One column of a text table.
#[derive(Clone, Debug)]
pub struct TextColumn {
    pub heading: String,
    /// Labels (left-aligned, wrapped when the page needs it); figures are
    /// right-aligned and never wrapped.
    pub label: bool,
}

fn longest_word(s: &str) -> usize {
    s.split(' ').map(width).max().unwrap_or(0)
}

/// Lays out a table of `rows` (one string per column) under `columns` in
/// at most [`TEXT_WIDTH`] columns: the lines of the headings, a rule and
/// the rows, in one or more panels separated by a blank line.
pub fn table(columns: &[TextColumn], rows: &[Vec<String>]) -> Vec<String> {
    let cells_width = |k: usize| rows.iter().map(|r| width(&r[k])).max().unwrap_or(0);
    let natural: Vec<usize> = (0..columns.len())
        .map(|k| cells_width(k).max(width(&columns[k].heading)))
        .collect();
    let fits = |w: &[usize]| w.iter().sum::<usize>() + GAP.len() * w.len().saturating_sub(1);
    if fits(&natural) <= TEXT_WIDTH {
        return panel(columns, rows, &natural);
    }
    // Figures: as wide as their cells and the longest word of the heading.
    let figure_min = |k: usize| cells_width(k).max(longest_word(&columns[k].heading));
    let labels: Vec<usize> = (0..columns.len()).filter(|k| columns[*k].label).collect();
    let figures: Vec<usize> = (0..columns.len()).filter(|k| !columns[*k].label).collect();
    // A label wrapped to less than half its width is hard to read: then
    // the figures go in panels instead.
    let label_min = |k: usize| {
        let least = MIN_LABEL
            .max(longest_word(&columns[k].heading))
            .max(natural[k].div_ceil(2));
        natural[k].min(least)
    };
    let labels_min: usize = labels.iter().map(|k| label_min(*k)).sum();
    // Figures in panels, as many to a panel as fit beside the labels.
    let gaps = |n: usize| GAP.len() * n.saturating_sub(1);
    let mut panels: Vec<Vec<usize>> = Vec::new();
    for &k in &figures {
        let open = panels.last().is_some_and(|p| {
            let used: usize = p.iter().map(|j| figure_min(*j)).sum();
            labels_min + used + figure_min(k) + gaps(labels.len() + p.len() + 1) <= TEXT_WIDTH
        });
        if open {
            panels.last_mut().unwrap_or_else(|| unreachable!()).push(k);
        } else {
            panels.push(vec![k]);
        }
    }
    if panels.is_empty() {
        panels.push(Vec::new());
    }
    let mut out = Vec::new();
    for (i, p) in panels.iter().enumerate() {
        let shown: Vec<usize> = labels.iter().chain(p).copied().collect();
        let mut widths: Vec<usize> = shown
            .iter()
            .map(|k| {
                if columns[*k].label {
                    label_min(*k)
                } else {
                    figure_min(*k)
                }
            })
            .collect();
        // Labels widened, in order, up to their natural width as the page
        // allows (a wrapped name reads worse than a wrapped heading); then
        // figures, else their headings wrap.
        for (slot, k) in shown.iter().enumerate() {
            if !columns[*k].label {
                continue;
            }
            let spare = TEXT_WIDTH.saturating_sub(fits(&widths));
            widths[slot] += spare.min(natural[*k] - widths[slot]);
        }
        for (slot, k) in shown.iter().enumerate() {
            if columns[*k].label {
                continue;
            }
            let spare = TEXT_WIDTH.saturating_sub(fits(&widths));
            widths[slot] += spare.min(natural[*k] - widths[slot]);
        }
        let cols: Vec<TextColumn> = shown.iter().map(|k| columns[*k].clone()).collect();
        let sub: Vec<Vec<String>> = rows
            .iter()
            .map(|r| shown.iter().map(|k| r[*k].clone()).collect())
            .collect();
        if i > 0 {
            out.push(String::new());
        }
        out.extend(panel(&cols, &sub, &widths));
    }
    out
}

/// One panel: headings (wrapped), a rule, rows (labels wrapped).
fn panel(columns: &[TextColumn], rows: &[Vec<String>], widths: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let emit = |texts: Vec<Vec<String>>, out: &mut Vec<String>| {
        let height = texts.iter().map(Vec::len).max().unwrap_or(1);
        for i in 0..height {
            let mut s = String::new();
            for (k, lines) in texts.iter().enumerate() {
                let t = lines.get(i).map(String::as_str).unwrap_or("");
                let pad = " ".repeat(widths[k].saturating_sub(width(t)));
                if k > 0 {
                    s.push_str(GAP);
                }
                if columns[k].label {
                    s.push_str(t);
                    s.push_str(&pad);
                } else {
                    s.push_str(&pad);
                    s.push_str(t);
                }
            }
            out.push(s.trim_end().to_string());
        }
    };
    let fit = |k: usize, t: &str| {
        if width(t) <= widths[k] {
            vec![t.to_string()]
        } else {
            wrap(t, widths[k])
        }
    };
    let headings = (0..columns.len())
        .map(|k| fit(k, &columns[k].heading))
        .collect();
    emit(headings, &mut out);
    emit(
        widths.iter().map(|w| vec!["-".repeat(*w)]).collect(),
        &mut out,
    );
    for r in rows {
        let cells = (0..columns.len())
            .map(|k| {
                if columns[k].label {
                    fit(k, &r[k])
                } else {
                    vec![r[k].clone()]
                }
            })
            .collect();
        emit(cells, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_at_spaces_and_between_wide_characters() {
        assert_eq!(wrap("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap("崂山区 Laoshan", 7), ["崂山区", "Laoshan"]);
        assert_eq!(
            wrap("全市聚集各类人才92,500人", 10),
            ["全市聚集各", "类人才", "92,500人"]
        );
        assert_eq!(wrap("4137011065 青岛大学", 18), ["4137011065", "青岛大学"]);
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("", 10), [""]);
        for l in wrap("上半年，全市聚集各类人才92,500人 and more words here", 9) {
            assert!(width(&l) <= 9, "{l}");
        }
    }

    #[test]
    fn a_wide_table_is_wrapped_then_split_into_panels() {
        let label = |h: &str| TextColumn {
            heading: h.into(),
            label: true,
        };
        let figure = |h: &str| TextColumn {
            heading: h.into(),
            label: false,
        };
        let mut columns = vec![label("industry"), label("district")];
        columns.extend((0..12).map(|i| figure(&format!("figure number {i}"))));
        let name = "S 公共管理、社会保障和社会组织 Public administration, social security and social organisations";
        let mut row = vec![
            name.to_string(),
            "310115 上海市浦东新区 Pudong, Shanghai".into(),
        ];
        row.extend((0..12).map(|_| "1,234,567".to_string()));
        let lines = table(&columns, &[row]);
        assert!(lines.iter().all(|l| width(l) <= TEXT_WIDTH), "{lines:#?}");
        // Every figure is shown, whole, in some panel.
        assert_eq!(
            lines
                .iter()
                .map(|l| l.matches("1,234,567").count())
                .sum::<usize>(),
            12
        );
        assert!(lines.iter().any(|l| l.is_empty()), "more than one panel");
        // The name is all there, wrapped.
        let all: String = lines.concat();
        assert!(all.contains("Public"), "{all}");
        assert!(all.contains("organisations"));
    }
}
