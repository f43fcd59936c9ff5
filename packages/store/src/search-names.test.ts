import { describe, expect, it } from 'vitest';
import { SEARCH_NAMES_MAX, SearchNames } from './search-names.js';

describe('SearchNames: the words a resource\'s files add to its title', () => {
  it('takes each component below the collection once, a file\'s without its extension, and leaves out what the title holds', () => {
    const n = new SearchNames('Lecture Notes 敦煌');
    for (const p of ['公开课/敦煌/第1讲 壁画.mp4', '公开课/敦煌/第2讲 .tar.gz', '公开课/敦煌/notes.pdf', '公开课/敦煌/附录/地图 .jpg', '公开课/敦煌/.hidden']) n.add(p);
    // 敦煌 and notes are in the title (case aside); 第2讲 keeps its ".tar"; a name of only an extension is kept whole
    expect(n.result()).toBe('第1讲 壁画\n第2讲 .tar\n附录\n地图\n.hidden');
    expect(new SearchNames('天安门广场').result()).toBeNull();
    const own = new SearchNames('天安门广场');
    own.add('老照片/天安门广场.jpg');
    expect(own.result()).toBeNull(); // a file that is its own resource adds nothing
  });

  it('stops taking names at SEARCH_NAMES_MAX characters (a folder of a hundred thousand photos)', () => {
    const n = new SearchNames('老照片');
    for (let i = 0; i < 100_000; i++) n.add(`老照片/北京/照片 ${String(i).padStart(6, '0')}.jpg`);
    const text = n.result()!;
    expect(text.length).toBeLessThanOrEqual(SEARCH_NAMES_MAX);
    expect(text.length).toBeGreaterThan(SEARCH_NAMES_MAX - 20);
    expect(text.startsWith('北京\n照片 000000\n照片 000001\n')).toBe(true);
  });
});
