/**
 * The "Vùng" / "Zones" tab: the geofence list (a click shows one on the map) and, for dispatchers
 * and admins, drawing new ones (polygon or circle) and renaming, re-kinding or deleting them.
 */

import { ApiError, AuthError } from './api.js';
import { byId, h, setData, setText } from './dom.js';
import { DrawTool, apiShape } from './draw_tool.js';
import { GEOFENCE_KINDS, kindLabel } from './geofences.js';
import { addStrings, t } from './i18n.js';

addStrings({
  vi: {
    'zones.tab': 'Vùng',
    'zones.drawPolygon': 'Vẽ đa giác',
    'zones.drawCircle': 'Vẽ hình tròn',
    'zones.filter': 'Tìm vùng…',
    'zones.empty': 'Không có vùng nào.',
    'zones.polygonHint': 'Bấm để đặt các đỉnh — bấm đúp (hoặc bấm đỉnh đầu, Enter) để kết thúc · Backspace xóa đỉnh · Esc hủy',
    'zones.circleHint': 'Nhấn giữ tại tâm rồi kéo ra để chọn bán kính (bấm một lần: 200 m) · Esc hủy',
    'zones.new': 'Vùng mới',
    'zones.edit': 'Sửa vùng #{id}',
    'zones.name': 'Tên',
    'zones.kind': 'Loại',
    'zones.limit': 'Giới hạn tốc độ (km/h)',
    'zones.radius': 'Bán kính (m)',
    'zones.save': 'Lưu',
    'zones.saving': 'Đang lưu…',
    'zones.delete': 'Xóa',
    'zones.confirmDelete': 'Bấm lần nữa để xóa',
    'zones.cancel': 'Hủy',
    'zones.needName': 'Hãy đặt tên cho vùng.',
    'zones.needLimit': 'Vùng giới hạn tốc độ cần giới hạn (km/h).',
    'zones.failed': 'Không lưu được: {e}',
    'zones.forbidden': 'Tài khoản này không có quyền sửa vùng.',
    'zones.saved': 'Đã lưu vùng “{n}”.',
    'zones.deleted': 'Đã xóa vùng “{n}”.',
    'zones.area': 'hình tròn {r} m',
    'zones.polygon': 'đa giác',
  },
  en: {
    'zones.tab': 'Zones',
    'zones.drawPolygon': 'Draw polygon',
    'zones.drawCircle': 'Draw circle',
    'zones.filter': 'Search zones…',
    'zones.empty': 'No zones.',
    'zones.polygonHint': 'Click to add corners — double-click (or click the first corner, Enter) to finish · Backspace removes a corner · Esc cancels',
    'zones.circleHint': 'Press at the centre and drag out the radius (a click gives 200 m) · Esc cancels',
    'zones.new': 'New zone',
    'zones.edit': 'Edit zone #{id}',
    'zones.name': 'Name',
    'zones.kind': 'Kind',
    'zones.limit': 'Speed limit (km/h)',
    'zones.radius': 'Radius (m)',
    'zones.save': 'Save',
    'zones.saving': 'Saving…',
    'zones.delete': 'Delete',
    'zones.confirmDelete': 'Click again to delete',
    'zones.cancel': 'Cancel',
    'zones.needName': 'Give the zone a name.',
    'zones.needLimit': 'A speed zone needs a limit (km/h).',
    'zones.failed': 'Could not save: {e}',
    'zones.forbidden': 'This account may not edit zones.',
    'zones.saved': 'Zone “{n}” saved.',
    'zones.deleted': 'Zone “{n}” deleted.',
    'zones.area': 'circle {r} m',
    'zones.polygon': 'polygon',
  },
});

function idOf(feature) {
  return feature.properties?.id ?? feature.id;
}

export class GeofenceEditor {
  /**
   * `layer` is the map's GeofenceLayer; `reload()` fetches the geofences again (resolves when
   * drawn); `isShown()` says whether the tab is open; `onStart()` runs when drawing begins.
   */
  constructor(map, { client, layer, editor, reload, isShown, onStart = () => {}, onState = () => {}, onAuthError = () => {} }) {
    this.map = map;
    this.client = client;
    this.layer = layer;
    this.editor = editor;
    this.reload = reload;
    this.isShown = isShown;
    this.onStart = onStart;
    this.onState = onState;
    this.onAuthError = onAuthError;
    this.list = byId('geofence-list');
    this.empty = byId('geofence-empty');
    this.filter = byId('geofence-filter');
    this.hint = byId('map-hint');
    this.form = byId('geofence-form');
    this.tools = byId('geofence-tools');
    this.query = '';
    this.selectedId = null;
    this.draft = null; // the drawn shape, before it is saved
    this.editing = null; // 'new' | id | null
    this.confirmDelete = false;
    this.busy = false;
    this.message = null;
    this.draw = new DrawTool(map, {
      onChange: (shape) => this.drawn(shape, false),
      onDone: (shape) => this.drawn(shape, true),
      onCancel: () => this.closeForm(),
    });
    this.filter.addEventListener('input', () => {
      this.query = this.filter.value.trim().toLowerCase();
      this.renderList();
    });
    this.tools.hidden = !editor;
    if (editor) {
      byId('draw-polygon').addEventListener('click', () => this.startDrawing('polygon'));
      byId('draw-circle').addEventListener('click', () => this.startDrawing('circle'));
    }
    this.buildForm();
    this.relabel();
  }

  buildForm() {
    this.formTitle = h('h4', { id: 'geofence-form-title', class: 'detail-subtitle' });
    this.nameLabel = h('label', { for: 'geofence-name' });
    this.name = h('input', { id: 'geofence-name', type: 'text', maxlength: '200', autocomplete: 'off', required: true });
    this.kindLabel = h('label', { for: 'geofence-kind' });
    this.kind = h('select', { id: 'geofence-kind' }, GEOFENCE_KINDS.map((kind) => h('option', { value: kind, dataset: { kind } })));
    this.kind.addEventListener('change', () => this.renderForm());
    this.limitLabel = h('label', { for: 'geofence-limit' });
    this.limit = h('input', { id: 'geofence-limit', type: 'number', min: '5', max: '200', step: '5', inputmode: 'numeric' });
    this.radiusLabel = h('label', { for: 'geofence-radius' });
    this.radius = h('input', { id: 'geofence-radius', type: 'number', min: '20', max: '25000', step: '10', inputmode: 'numeric' });
    this.radius.addEventListener('input', () => this.draw.setRadius(Number(this.radius.value)));
    this.error = h('p', { id: 'geofence-error', class: 'form-error', role: 'alert', hidden: true });
    this.save = h('button', { type: 'submit', id: 'geofence-save', class: 'btn-primary' });
    this.remove = h('button', { type: 'button', id: 'geofence-delete', class: 'btn btn-danger', onclick: () => this.deleteSelected() });
    this.cancel = h('button', { type: 'button', id: 'geofence-cancel', class: 'btn', onclick: () => this.closeForm() });
    this.radiusRow = h('div', { class: 'form-field' }, this.radiusLabel, this.radius);
    this.limitRow = h('div', { class: 'form-field' }, this.limitLabel, this.limit);
    this.form.replaceChildren(
      this.formTitle,
      h('div', { class: 'form-grid' }, h('div', { class: 'form-field form-wide' }, this.nameLabel, this.name), h('div', { class: 'form-field' }, this.kindLabel, this.kind), this.limitRow, this.radiusRow),
      this.error,
      h('div', { class: 'dispatch-actions' }, this.save, this.remove, this.cancel),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
  }

  /** The geofences were (re)loaded. */
  refresh() {
    if (typeof this.editing === 'number' && !this.layer.feature(this.editing)) this.closeForm();
    this.renderList();
    this.layer.select(this.selectedId);
  }

  renderList() {
    const features = [...this.layer.features].sort((a, b) => String(a.properties?.name ?? '').localeCompare(String(b.properties?.name ?? ''), 'vi', { numeric: true }));
    const shown = features.filter((feature) => {
      const p = feature.properties ?? {};
      return !this.query || `${p.name ?? ''} ${kindLabel(p.kind)}`.toLowerCase().includes(this.query);
    });
    const rows = shown.map((feature) => {
      const p = feature.properties ?? {};
      const id = idOf(feature);
      const shape = p.shape?.type === 'circle' ? t('zones.area', { r: Math.round(p.shape.radius_m ?? 0) }) : '';
      const limit = Number.isFinite(p.speed_limit_kmh) ? t('geofence.limit', { n: Math.round(p.speed_limit_kmh) }) : '';
      return h(
        'li',
        { dataset: { geofenceId: String(id), kind: String(p.kind ?? '') } },
        h(
          'button',
          { type: 'button', class: 'zone-row', 'aria-pressed': String(id === this.selectedId), onclick: () => this.pick(id, { pan: true }) },
          h('span', { class: 'zone-swatch', dataset: { kind: String(p.kind ?? '') }, 'aria-hidden': 'true' }),
          h('span', { class: 'zone-name', text: p.name || `#${id}` }),
          h('span', { class: 'zone-meta', text: [kindLabel(p.kind), limit, shape].filter(Boolean).join(' · ') }),
        ),
      );
    });
    this.list.replaceChildren(...rows);
    this.empty.hidden = rows.length > 0;
    setText(this.empty, t('zones.empty'));
    this.emit();
  }

  /** Selects a geofence (from the list or the map); editors get its form. */
  pick(id, { pan = false } = {}) {
    if (this.draw.active || this.editing === 'new') this.draw.clear();
    this.selectedId = id;
    this.layer.select(id);
    if (pan) {
      const bounds = this.layer.bounds(id);
      if (bounds) this.map.fitBounds(bounds, { padding: [60, 60], maxZoom: 17 });
    }
    if (this.editor) this.openForm(id);
    this.renderList();
    this.list.querySelector(`[data-geofence-id="${CSS.escape(String(id))}"]`)?.scrollIntoView({ block: 'nearest' });
  }

  startDrawing(type) {
    this.onStart();
    this.selectedId = null;
    this.layer.select(null);
    this.closeForm();
    this.editing = null;
    if (type === 'polygon') this.draw.startPolygon();
    else this.draw.startCircle();
    this.drawingType = type;
    this.showHint(t(type === 'polygon' ? 'zones.polygonHint' : 'zones.circleHint'));
    this.renderList();
  }

  drawn(shape, done) {
    this.draft = shape;
    if (shape?.type === 'circle') this.radius.value = String(shape.radius);
    if (done) {
      this.hideHint();
      this.openForm('new');
      this.name.focus();
    }
    this.emit();
  }

  openForm(editing) {
    this.editing = editing;
    this.confirmDelete = false;
    this.message = null;
    if (editing === 'new') {
      this.name.value = '';
      this.kind.value = 'restricted_zone';
      this.limit.value = '';
    } else {
      const p = this.layer.feature(editing)?.properties ?? {};
      this.name.value = p.name ?? '';
      this.kind.value = GEOFENCE_KINDS.includes(p.kind) ? p.kind : 'restricted_zone';
      this.limit.value = Number.isFinite(p.speed_limit_kmh) ? String(Math.round(p.speed_limit_kmh)) : '';
    }
    this.form.hidden = false;
    this.renderForm();
  }

  closeForm() {
    this.draw.clear();
    this.hideHint();
    this.editing = null;
    this.draft = null;
    this.form.hidden = true;
    this.message = null;
    this.emit();
  }

  renderForm() {
    const isNew = this.editing === 'new';
    setText(this.formTitle, isNew ? t('zones.new') : t('zones.edit', { id: this.editing }));
    setText(this.nameLabel, t('zones.name'));
    setText(this.kindLabel, t('zones.kind'));
    for (const option of this.kind.options) setText(option, kindLabel(option.value));
    setText(this.limitLabel, t('zones.limit'));
    setText(this.radiusLabel, t('zones.radius'));
    this.limit.required = this.kind.value === 'speed_zone';
    this.radiusRow.hidden = !(isNew && this.draft?.type === 'circle');
    setText(this.save, this.busy ? t('zones.saving') : t('zones.save'));
    this.save.disabled = this.busy;
    this.remove.hidden = isNew;
    setText(this.remove, this.confirmDelete ? t('zones.confirmDelete') : t('zones.delete'));
    setData(this.remove, 'confirm', this.confirmDelete ? '1' : '0');
    setText(this.cancel, t('zones.cancel'));
    this.error.hidden = !this.message;
    this.error.className = this.message?.error === false ? 'form-note' : 'form-error';
    setText(this.error, this.message?.text() ?? '');
    setData(this.form, 'mode', isNew ? 'new' : 'edit');
  }

  /** The form as an API body; null (with the reason shown) when something is missing. */
  body() {
    const name = this.name.value.trim();
    const limit = this.limit.value === '' ? null : Number(this.limit.value);
    if (!name) return this.invalid('zones.needName', this.name);
    if (this.kind.value === 'speed_zone' && !Number.isFinite(limit)) return this.invalid('zones.needLimit', this.limit);
    return { name, kind: this.kind.value, speed_limit_kmh: Number.isFinite(limit) ? limit : null };
  }

  invalid(key, field) {
    this.message = { text: () => t(key), error: true };
    this.renderForm();
    field.focus();
    return null;
  }

  async submit() {
    const body = this.body();
    if (!body || this.busy) return;
    const isNew = this.editing === 'new';
    if (isNew && !this.draft) return;
    await this.run(async () => {
      const saved = isNew ? await this.client.createGeofence({ ...body, shape: apiShape(this.draft) }) : await this.client.updateGeofence(this.editing, body);
      const id = idOf(saved ?? {}) ?? this.editing;
      this.draw.clear();
      this.draft = null;
      await this.reload();
      this.selectedId = id;
      this.layer.select(id);
      this.openForm(id);
      this.message = { text: () => t('zones.saved', { n: body.name }), error: false };
      this.lastSavedId = id;
    });
  }

  async deleteSelected() {
    if (typeof this.editing !== 'number') return;
    if (!this.confirmDelete) {
      this.confirmDelete = true;
      this.renderForm();
      setTimeout(() => {
        this.confirmDelete = false;
        if (!this.form.hidden) this.renderForm();
      }, 4000);
      return;
    }
    const id = this.editing;
    const name = this.layer.feature(id)?.properties?.name ?? `#${id}`;
    await this.run(async () => {
      await this.client.deleteGeofence(id);
      this.selectedId = null;
      this.closeForm();
      await this.reload();
      this.showHint(t('zones.deleted', { n: name }), 'done');
    });
  }

  async run(task) {
    this.busy = true;
    this.message = null;
    this.renderForm();
    try {
      await task();
    } catch (error) {
      if (error instanceof AuthError) {
        this.onAuthError();
        return;
      }
      const detail = error.detail || error.message;
      const text = error instanceof ApiError && error.status === 403 ? () => t('zones.forbidden') : () => t('zones.failed', { e: detail });
      this.message = { text, error: true };
    } finally {
      this.busy = false;
    }
    if (!this.form.hidden) this.renderForm();
    this.renderList();
  }

  showHint(text, tone = 'info') {
    setText(this.hint, text);
    this.hint.dataset.tone = tone;
    this.hint.hidden = false;
    if (tone === 'done') setTimeout(() => this.hint.dataset.tone === 'done' && (this.hint.hidden = true), 4000);
  }

  hideHint() {
    if (this.hint.dataset.tone === 'info') this.hint.hidden = true;
  }

  /** Leaving the tab ends any drawing. */
  hidden() {
    if (this.draw.active || this.editing === 'new') this.closeForm();
  }

  relabel() {
    this.filter.placeholder = t('zones.filter');
    this.filter.setAttribute('aria-label', t('zones.filter'));
    if (!this.form.hidden) this.renderForm();
    if (this.draw.active) this.showHint(t(this.drawingType === 'polygon' ? 'zones.polygonHint' : 'zones.circleHint'));
    this.renderList();
  }

  emit() {
    this.onState({
      count: this.layer.features.length,
      selectedId: this.selectedId,
      editing: this.editing,
      drawing: this.draw.active ? this.draw.mode : null,
      draft: this.draft ? apiShape(this.draft) : null,
      lastSavedId: this.lastSavedId ?? null,
    });
  }
}
