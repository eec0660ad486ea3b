/** The "new journey" card: incident, priority, ambulances and hospitals ranked by road time, the dispatch button. */

import { byId, h, setData, setText } from './dom.js';
import { formatCoords, formatDistance, formatMinutes } from './format.js';
import { addStrings, lang, t } from './i18n.js';

addStrings({
  vi: {
    'dispatch.new': 'Tạo hành trình',
    'dispatch.newTitle': 'Đặt hiện trường trên bản đồ rồi chọn xe cứu thương (phím N)',
    'dispatch.title': 'Tạo hành trình mới',
    'dispatch.placeHint': 'Bấm vào bản đồ tại vị trí hiện trường — Esc để hủy',
    'dispatch.scene': 'Hiện trường',
    'dispatch.dragHint': 'Kéo biểu tượng trên bản đồ hoặc bấm chỗ khác để chỉnh vị trí.',
    'dispatch.address': 'Địa chỉ / mô tả',
    'dispatch.addressPlaceholder': 'VD: 12 Bạch Đằng, Hải Châu — người ngã xe',
    'dispatch.priority': 'Mức ưu tiên',
    'dispatch.units': 'Xe cứu thương — nhanh nhất theo đường bộ',
    'dispatch.unitsLoading': 'Đang tính thời gian đến của các xe…',
    'dispatch.unitsEmpty': 'Không có xe sẵn sàng nào đến được hiện trường.',
    'dispatch.fastest': 'Nhanh nhất',
    'dispatch.hospitals': 'Bệnh viện đích — gần nhất theo đường bộ',
    'dispatch.hospitalsLoading': 'Đang tìm bệnh viện…',
    'dispatch.noHospital': 'Chưa chọn (chọn sau)',
    'dispatch.note': 'Ghi chú',
    'dispatch.submit': 'Điều động {c}',
    'dispatch.submitNone': 'Điều động',
    'dispatch.sending': 'Đang điều động…',
    'dispatch.cancel': 'Hủy',
    'dispatch.retry': 'Thử lại',
    'dispatch.failed': 'Không tải được dữ liệu: {e}',
    'dispatch.error': 'Không điều động được: {e}',
    'dispatch.forbidden': 'Tài khoản này không có quyền điều động.',
    'dispatch.done': 'Đã điều động {c}.',
    'dispatch.travel': '{d} · {m}',
  },
  en: {
    'dispatch.new': 'New journey',
    'dispatch.newTitle': 'Place the incident on the map, then choose an ambulance (key N)',
    'dispatch.title': 'New journey',
    'dispatch.placeHint': 'Click the map where the incident is — Esc to cancel',
    'dispatch.scene': 'Incident',
    'dispatch.dragHint': 'Drag the marker on the map or click elsewhere to move it.',
    'dispatch.address': 'Address / description',
    'dispatch.addressPlaceholder': 'e.g. 12 Bach Dang, Hai Chau — motorbike fall',
    'dispatch.priority': 'Priority',
    'dispatch.units': 'Ambulances — fastest by road',
    'dispatch.unitsLoading': 'Computing the ambulances’ travel times…',
    'dispatch.unitsEmpty': 'No available ambulance can reach the incident.',
    'dispatch.fastest': 'Fastest',
    'dispatch.hospitals': 'Destination hospital — nearest by road',
    'dispatch.hospitalsLoading': 'Finding hospitals…',
    'dispatch.noHospital': 'None yet (choose later)',
    'dispatch.note': 'Note',
    'dispatch.submit': 'Dispatch {c}',
    'dispatch.submitNone': 'Dispatch',
    'dispatch.sending': 'Dispatching…',
    'dispatch.cancel': 'Cancel',
    'dispatch.retry': 'Retry',
    'dispatch.failed': 'Could not load: {e}',
    'dispatch.error': 'Could not dispatch: {e}',
    'dispatch.forbidden': 'This account may not dispatch.',
    'dispatch.done': '{c} dispatched.',
    'dispatch.travel': '{d} · {m}',
  },
});

function hospitalName(hospital) {
  return lang() === 'en' ? hospital.name_en || hospital.name_vi : hospital.name_vi || hospital.name_en;
}

function travel(item) {
  return t('dispatch.travel', { d: formatMinutes(item.duration_s), m: formatDistance(item.distance_m) });
}

export class DispatchPanel {
  /** Callbacks: onUnit(id), onHospital(id|null), onPriority(n), onSubmit(), onCancel(), onRetry(). */
  constructor(handlers) {
    this.handlers = handlers;
    this.root = byId('dispatch-panel');
    this.title = h('h3', { id: 'dispatch-title' });
    this.closeButton = h('button', { type: 'button', id: 'dispatch-close', class: 'btn btn-icon', text: '×', onclick: () => handlers.onCancel() });
    this.sceneLabel = h('dt');
    this.coords = h('dd', { id: 'dispatch-coords' });
    this.dragHint = h('p', { class: 'dispatch-hint' });
    this.addressLabel = h('label', { for: 'dispatch-address' });
    this.address = h('input', { id: 'dispatch-address', type: 'text', maxlength: '500', autocomplete: 'off' });
    this.priorityLabel = h('span', { class: 'dispatch-label', id: 'dispatch-priority-label' });
    this.priorities = [1, 2, 3].map((n) =>
      h('button', { type: 'button', class: 'seg priority-seg', dataset: { priorityChoice: String(n) }, 'aria-pressed': 'false', onclick: () => handlers.onPriority(n) }),
    );
    this.unitsLabel = h('span', { class: 'dispatch-label' });
    this.units = h('ul', { id: 'dispatch-units', class: 'choice-list', role: 'radiogroup' });
    this.unitsStatus = h('p', { id: 'dispatch-units-status', class: 'dispatch-status' });
    this.hospitalsLabel = h('span', { class: 'dispatch-label' });
    this.hospitals = h('ul', { id: 'dispatch-hospitals', class: 'choice-list', role: 'radiogroup' });
    this.hospitalsStatus = h('p', { class: 'dispatch-status' });
    this.noteLabel = h('label', { for: 'dispatch-note' });
    this.note = h('input', { id: 'dispatch-note', type: 'text', maxlength: '2000', autocomplete: 'off' });
    this.error = h('p', { id: 'dispatch-error', class: 'form-error', role: 'alert', hidden: true });
    this.retry = h('button', { type: 'button', class: 'link-button', onclick: () => handlers.onRetry() });
    this.submit = h('button', { type: 'submit', id: 'dispatch-submit', class: 'btn-primary' });
    this.cancel = h('button', { type: 'button', class: 'btn', onclick: () => handlers.onCancel() });
    const form = h(
      'form',
      { id: 'dispatch-form', class: 'dispatch-form' },
      h('dl', { class: 'dispatch-scene' }, this.sceneLabel, this.coords),
      this.dragHint,
      this.addressLabel,
      this.address,
      h('div', { class: 'dispatch-field' }, this.priorityLabel, h('div', { class: 'segmented', role: 'group', 'aria-labelledby': 'dispatch-priority-label' }, this.priorities)),
      h('div', { class: 'dispatch-field' }, this.unitsLabel, this.unitsStatus, this.units),
      h('div', { class: 'dispatch-field' }, this.hospitalsLabel, this.hospitalsStatus, this.hospitals),
      this.noteLabel,
      this.note,
      this.error,
      h('div', { class: 'dispatch-actions' }, this.submit, this.cancel),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      handlers.onSubmit();
    });
    this.root.replaceChildren(h('div', { class: 'detail-head' }, this.title, this.closeButton), form);
    this.state = null;
  }

  show() {
    this.root.hidden = false;
  }

  hide() {
    this.root.hidden = true;
  }

  reset() {
    this.address.value = '';
    this.note.value = '';
    this.error.hidden = true;
  }

  focusAddress() {
    this.address.focus();
  }

  /** Redraws from the tool's state: { incident, units, unitsState, vehicleId, hospitals, hospitalsState, hospitalId, priority, sending, error }. */
  render(state) {
    this.state = state;
    setText(this.title, t('dispatch.title'));
    this.closeButton.setAttribute('aria-label', t('dispatch.cancel'));
    setText(this.sceneLabel, t('dispatch.scene'));
    setText(this.coords, state.incident ? formatCoords(state.incident.lat, state.incident.lng) : '—');
    setText(this.dragHint, t('dispatch.dragHint'));
    setText(this.addressLabel, t('dispatch.address'));
    this.address.placeholder = t('dispatch.addressPlaceholder');
    setText(this.priorityLabel, t('dispatch.priority'));
    for (const button of this.priorities) {
      const n = Number(button.dataset.priorityChoice);
      setText(button, `P${n} · ${t(`priority.${n}`)}`);
      button.setAttribute('aria-pressed', String(n === state.priority));
    }
    setText(this.unitsLabel, t('dispatch.units'));
    this.renderUnits(state);
    setText(this.hospitalsLabel, t('dispatch.hospitals'));
    this.renderHospitals(state);
    setText(this.noteLabel, t('dispatch.note'));
    setText(this.cancel, t('dispatch.cancel'));
    setText(this.retry, t('dispatch.retry'));
    const unit = state.units.find((u) => u.id === state.vehicleId);
    setText(this.submit, state.sending ? t('dispatch.sending') : unit ? t('dispatch.submit', { c: unit.call_sign || unit.plate || `#${unit.id}` }) : t('dispatch.submitNone'));
    this.submit.disabled = state.sending || !unit;
    this.error.hidden = !state.error;
    setText(this.error, state.error ? state.error() : '');
    setData(this.root, 'state', state.sending ? 'sending' : state.unitsState);
  }

  status(node, state, loadingKey, emptyKey) {
    node.hidden = state === 'ready';
    if (state === 'loading') node.replaceChildren(t(loadingKey));
    else if (state === 'empty') node.replaceChildren(t(emptyKey));
    else if (state?.startsWith?.('error:')) node.replaceChildren(t('dispatch.failed', { e: state.slice(6) }), ' ', this.retry);
  }

  /** Rebuilds a list only when its items or the language changed (keeps focus while choosing). */
  unchanged(key, items) {
    const shown = this.shown?.[key];
    this.shown = { ...this.shown, [key]: { items, lang: lang() } };
    return shown?.items === items && shown?.lang === lang();
  }

  renderUnits(state) {
    this.status(this.unitsStatus, state.unitsState, 'dispatch.unitsLoading', 'dispatch.unitsEmpty');
    if (this.unchanged('units', state.units)) {
      for (const input of this.units.querySelectorAll('input')) input.checked = Number(input.value) === state.vehicleId;
      return;
    }
    const rows = state.units.map((unit, index) => {
      const input = h('input', { type: 'radio', name: 'dispatch-unit', value: String(unit.id), checked: unit.id === state.vehicleId });
      input.addEventListener('change', () => this.handlers.onUnit(unit.id));
      return h(
        'li',
        { dataset: { vehicleId: String(unit.id), rank: String(index + 1) } },
        h(
          'label',
          { class: 'choice' },
          input,
          h('span', { class: 'choice-main' }, h('strong', { text: unit.call_sign || `#${unit.id}` }), unit.plate ? h('span', { class: 'row-plate', text: unit.plate }) : null),
          index === 0 ? h('span', { class: 'choice-badge', text: t('dispatch.fastest') }) : null,
          h('span', { class: 'choice-travel', dataset: { durationS: String(unit.duration_s) }, text: travel(unit) }),
        ),
      );
    });
    this.units.replaceChildren(...rows);
  }

  renderHospitals(state) {
    this.status(this.hospitalsStatus, state.hospitalsState, 'dispatch.hospitalsLoading', 'dispatch.hospitalsLoading');
    if (this.unchanged('hospitals', state.hospitals)) {
      for (const input of this.hospitals.querySelectorAll('input')) {
        input.checked = input.value === '' ? state.hospitalId === null : Number(input.value) === state.hospitalId;
      }
      return;
    }
    const none = h('input', { type: 'radio', name: 'dispatch-hospital', value: '', checked: state.hospitalId === null });
    none.addEventListener('change', () => this.handlers.onHospital(null));
    const rows = [
      h('li', { dataset: { hospitalId: '' } }, h('label', { class: 'choice choice-none' }, none, h('span', { class: 'choice-main', text: t('dispatch.noHospital') }))),
      ...state.hospitals.map((hospital) => {
        const input = h('input', { type: 'radio', name: 'dispatch-hospital', value: String(hospital.id), checked: hospital.id === state.hospitalId });
        input.addEventListener('change', () => this.handlers.onHospital(hospital.id));
        return h(
          'li',
          { dataset: { hospitalId: String(hospital.id) } },
          h('label', { class: 'choice' }, input, h('span', { class: 'choice-main', text: hospitalName(hospital) }), h('span', { class: 'choice-travel', text: travel(hospital) })),
        );
      }),
    ];
    this.hospitals.replaceChildren(...rows);
  }

  values() {
    return { address: this.address.value.trim(), note: this.note.value.trim() };
  }
}
