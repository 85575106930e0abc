//! Column alignment the way Go's `text/tabwriter` does it, which is what
//! lays out docker's tables (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` in
//! docker/cli `formatter.go`).
//!
//! Text is cells ended by a tab; the text after a line's last tab is not
//! part of any column. A *column block* is a run of consecutive lines that
//! all have a cell in that column; each block is as wide as its widest cell
//! plus the padding, and at least the minimum width. Blocks are found
//! column by column, left to right, recursively within the block to the
//! left, exactly as Go's `Writer.format` does, so output matches docker's
//! byte for byte (trailing padding included).

/// Go tabwriter settings (padding character is always a space here).
#[derive(Debug, Clone, Copy)]
pub struct TabWriter {
    /// Minimal cell width including any padding.
    pub min_width: usize,
    /// Padding added to a cell before computing its width.
    pub padding: usize,
}

impl TabWriter {
    /// docker's table settings: minwidth 10, padding 3.
    pub fn docker() -> TabWriter {
        TabWriter {
            min_width: 10,
            padding: 3,
        }
    }

    /// Aligns `text` (lines ended by `\n`, cells by `\t`).
    pub fn format(&self, text: &str) -> String {
        let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
        // A trailing newline does not start another line.
        let ends_with_newline = text.ends_with('\n');
        if ends_with_newline {
            lines.pop();
        }
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.block(&lines, 0, lines.len(), &mut widths, &mut out);
        if !ends_with_newline && out.ends_with('\n') {
            out.pop();
        }
        out
    }

    /// Go's `format`: lays out lines `[line0, line1)` for the column after
    /// those whose widths are already known.
    fn block(
        &self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // A block of this column starts here: print the lines before.
            self.write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < lines[this].len() {
                let w = lines[this][column].chars().count() + self.padding;
                width = width.max(w);
                this += 1;
            }
            widths.push(width);
            self.block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, line1, widths, out);
    }

    fn write_lines(
        &self,
        lines: &[Vec<&str>],
        from: usize,
        to: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for line in &lines[from..to] {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if j < widths.len() && j + 1 < line.len() {
                    let w = cell.chars().count();
                    out.extend(std::iter::repeat_n(' ', widths[j].saturating_sub(w)));
                }
            }
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_like_go_tabwriter_with_docker_settings() {
        let t = TabWriter::docker();
        assert_eq!(
            t.format("REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\t0123456789ab\n"),
            "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    0123456789ab\n"
        );
        // Empty trailing cells are padded too (docker prints trailing spaces).
        assert_eq!(t.format("a\tb\t\n"), "a         b         \n");
        // A line with fewer cells ends the column block.
        assert_eq!(
            t.format("aaaaaaaaaaaaaa\tx\nsingle\nb\ty\n"),
            "aaaaaaaaaaaaaa   x\nsingle\nb         y\n"
        );
        // Widths count characters, not bytes.
        assert_eq!(t.format("é\tx\n"), "é         x\n");
        assert_eq!(t.format("no tabs"), "no tabs");
    }
}
