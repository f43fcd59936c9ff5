import { textCharset } from './files.js';

/**
 * Subtitles for a resource's videos. A lecture comes with its 字幕 and a local opera with its 唱词,
 * mostly as SubRip (.srt) files beside the video, saved by whatever desk made them (UTF-8, GBK or
 * UTF-16). Browsers show only WebVTT, and only in the video's own `<track>`: so the page pairs each
 * video with its subtitle files, and `serve` sends each as WebVTT in UTF-8 (`/vtt/...`).
 */

export const SUBTITLE_EXTENSIONS = new Set(['srt', 'vtt']);
const SUBTITLE_NAME = /[^/]\.(?:srt|vtt)$/i;

/** Subtitle files larger than this are not converted (a real one is well under a megabyte). */
export const SUBTITLE_MAX_BYTES = 8 << 20;

export interface SubtitleTrack {
  /** the subtitle file's path in the bundle */
  path: string;
  /** BCP 47, where its name tells (第1讲.en.srt), else the resource's language, else zh */
  srclang: string;
  /** what the player's menu shows ('': nothing in the name tells; the page says 字幕) */
  label: string;
}

const LANG_TAGS: [RegExp, string, string][] = [
  [/^(zh|zh-cn|zh-hans|zh_cn|chs|sc|chi|zho|cn|gb|中文|简体|简中|简体中文|中文字幕)$/i, 'zh', '中文'],
  [/^(zh-tw|zh-hk|zh-hant|zh_tw|cht|tc|big5|繁体|繁體|繁中|繁體中文|繁体中文)$/i, 'zh-Hant', '繁體中文'],
  [/^(en|eng|english|英文|英语|英語)$/i, 'en', 'English'],
];

/** `a/b/第1讲.zh.srt` → { dir: 'a/b', stem: '第1讲.zh', ext: 'srt' } */
function split(path: string): { dir: string; stem: string; ext: string } {
  const slash = path.lastIndexOf('/');
  const base = path.slice(slash + 1);
  const dot = base.lastIndexOf('.');
  return { dir: path.slice(0, Math.max(slash, 0)), stem: dot > 0 ? base.slice(0, dot) : base, ext: dot > 0 ? base.slice(dot + 1).toLowerCase() : '' };
}

function track(path: string, tag: string, fallbackLang: string): SubtitleTrack {
  for (const [re, srclang, label] of LANG_TAGS) if (re.test(tag)) return { path, srclang, label };
  return { path, srclang: fallbackLang, label: tag };
}

/**
 * Which subtitle files go with which video, among a resource's paths. A subtitle goes with the video
 * of the same folder whose name it carries: 第1讲.srt, 第1讲.zh.srt and 第1讲.英文.srt go with
 * 第1讲.mp4 (the part after the video's name says the language). Where no subtitle is named for any
 * video and the resource has one video, its subtitle files go with it (字幕.srt beside 讲座.mp4).
 * `language` is the resource's (its catalog's code, e.g. chi), for subtitles whose name says none.
 */
export function subtitlesFor(paths: readonly string[], isVideo: (path: string) => boolean, language?: string | null): Map<string, SubtitleTrack[]> {
  const fallback = /^(en|eng)$/i.test(language ?? '') ? 'en' : 'zh';
  const out = new Map<string, SubtitleTrack[]>();
  // The subtitles first, by a cheap test: a folder of 100,000 photos has none, and costs 8–10 ms here instead of 60–85.
  const subs = paths.filter((p) => SUBTITLE_NAME.test(p));
  if (subs.length === 0) return out;
  const videos = paths.filter(isVideo);
  if (videos.length === 0) return out;
  const videoByKey = new Map(videos.map((v) => {
    const s = split(v);
    return [`${s.dir}/${s.stem}`, v];
  }));
  let matched = false;
  for (const sub of subs) {
    const s = split(sub);
    // The longest video name that the subtitle's name is or starts with (第1讲 and 第1讲 上 both exist).
    let stem = s.stem;
    let tag = '';
    for (;;) {
      const v = videoByKey.get(`${s.dir}/${stem}`);
      if (v) {
        // 第1讲.mp4.srt, as some tools name it: the video's extension is no language.
        const ext = split(v).ext;
        const lang = tag.toLowerCase() === ext ? '' : tag.toLowerCase().startsWith(`${ext}.`) ? tag.slice(ext.length + 1) : tag;
        out.set(v, [...(out.get(v) ?? []), track(sub, lang, fallback)]);
        matched = true;
        break;
      }
      const dot = stem.lastIndexOf('.');
      if (dot <= 0) break;
      tag = stem.slice(dot + 1) + (tag ? `.${tag}` : '');
      stem = stem.slice(0, dot);
    }
  }
  if (!matched && videos.length === 1) {
    out.set(videos[0]!, subs.map((sub) => track(sub, split(sub).stem, fallback))); // 字幕.srt: labelled 字幕; 英文.srt: English
  }
  // The resource's language first, then as listed: the page marks the first one default, which the player shows.
  for (const list of out.values()) list.sort((a, b) => Number(b.srclang === fallback) - Number(a.srclang === fallback));
  return out;
}

/**
 * A subtitle file's bytes as WebVTT in UTF-8. The charset is told by a byte-order mark, else UTF-8
 * if the bytes are valid UTF-8, else GB18030 (textCharset). SubRip's timings (00:01:02,500) become
 * WebVTT's (00:01:02.500), its numbers stay as cue identifiers, an ASS position tag ({\an8}: at
 * the top) becomes the cue's line setting, and what WebVTT would misread is dropped: the other ASS
 * override tags, and "-->" inside a cue's text. A file that already is WebVTT
 * is only decoded.
 */
export function toWebVtt(bytes: Uint8Array): string {
  const text = new TextDecoder(textCharset(bytes, true)).decode(bytes).replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  if (/^WEBVTT(?:[ \t\n]|$)/.test(text)) return text;
  const out: string[] = ['WEBVTT', ''];
  const time = (h: string, m: string, s: string, ms: string) => `${h.padStart(2, '0')}:${m.padStart(2, '0')}:${s.padStart(2, '0')}.${ms.padEnd(3, '0')}`;
  let inCue = false;
  let timing = -1; // where the current cue's timing line is in `out`
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    const t = /^\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(\d+):(\d{1,2}):(\d{1,2})[,.](\d{1,3})/.exec(line);
    if (t) {
      timing = out.push(`${time(t[1]!, t[2]!, t[3]!, t[4]!)} --> ${time(t[5]!, t[6]!, t[7]!, t[8]!)}`) - 1;
      inCue = true;
    } else if (line.trim() === '') {
      if (out.at(-1) !== '') out.push('');
      inCue = false;
    } else {
      // ASS's {\an8} (top; 4–6 the middle) becomes the cue's line setting, once; the other tags go.
      const at = inCue ? /\{\\an([4-9])\}/.exec(line) : null;
      if (at && !out[timing]!.includes(' line:')) out[timing] += Number(at[1]) >= 7 ? ' line:0' : ' line:50%';
      const cleaned = inCue ? line.replace(/\{\\[^}]*\}/g, '').replace(/-->/g, '→') : line.replace(/-->/g, '→');
      // A cue's identifier line (the SubRip number) stays; any other line outside a cue would break the file.
      if (inCue || /^\d+$/.test(line.trim())) out.push(cleaned);
    }
  }
  return out.join('\n').replace(/\n*$/, '\n');
}
