/** Tabs of the side panel (Đội xe | Hành trình): ARIA tabs, arrow keys move between them. */

export class Tabs {
  /** `root` holds [role=tab] buttons whose aria-controls name their panels. */
  constructor(root, { onChange = () => {} } = {}) {
    this.tabs = [...root.querySelectorAll('[role="tab"]')];
    this.onChange = onChange;
    for (const tab of this.tabs) {
      tab.addEventListener('click', () => this.show(tab.id));
      tab.addEventListener('keydown', (event) => this.key(event, tab));
    }
    this.show(this.tabs.find((tab) => tab.getAttribute('aria-selected') === 'true')?.id ?? this.tabs[0].id);
  }

  show(id) {
    for (const tab of this.tabs) {
      const selected = tab.id === id;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      document.getElementById(tab.getAttribute('aria-controls')).hidden = !selected;
    }
    this.current = id;
    this.onChange(id);
  }

  key(event, tab) {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = this.tabs[(this.tabs.indexOf(tab) + step + this.tabs.length) % this.tabs.length];
    this.show(next.id);
    next.focus();
    event.preventDefault();
  }
}
