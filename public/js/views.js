// The screens and the way between them: / → home, /<code> → pre-join → call → an end screen.
// Only the showing view is in the document (see ui.js); body[data-view] names it.

import { $ } from './ui.js';
import { route } from './roomcode.js';

/** Each view's heading, focused when the view changes so a screen reader starts there. */
const HEADINGS = { home: 'home-title', prejoin: 'prejoin-title', call: 'call-title', end: 'end-title' };

/**
 * End screens by the reason in Call's 'ended' event ('left' is our own Leave button). `text`
 * gets what the call knew when it ended ({maxPeers}). Unknown reasons show `closed`.
 */
export const END_SCREENS = Object.freeze({
  left: { title: 'You left the call', text: () => 'Your camera and microphone are off.', again: 'Rejoin' },
  full: {
    title: 'This room is full',
    text: ({ maxPeers }) => `A call has room for ${maxPeers} people. Try again later, or start a new call.`,
    again: 'Try again',
  },
  replaced: {
    title: 'Call continued elsewhere',
    text: () => 'You joined this call from another tab or window, so this one was disconnected.',
    again: 'Rejoin here',
  },
  unsupported: { title: 'Please reload', text: () => 'This version of Pinhole is out of date. Reload the page to get the new one.', again: 'Rejoin' },
  closed: { title: 'Disconnected', text: () => 'The connection to the call ended.', again: 'Rejoin' },
});

export class Views {
  constructor() {
    // The first view after loading keeps the browser's own focus (the top of the page).
    this.firstRender = true;
  }

  get current() { return document.body.dataset.view; }

  show(view) {
    const section = $(`view-${view}`);
    section.hidden = false;
    const main = $('main');
    if (main.childElementCount !== 1 || main.firstElementChild !== section) main.replaceChildren(section); // others detached
    document.body.dataset.view = view;
    if (!this.firstRender) requestAnimationFrame(() => $(HEADINGS[view])?.focus({ preventScroll: true }));
    this.firstRender = false;
  }

  showEnd(reason, facts) {
    const screen = Object.hasOwn(END_SCREENS, reason) ? END_SCREENS[reason] : END_SCREENS.closed;
    this.show('end');
    document.title = 'Pinhole';
    $('end-title').textContent = screen.title;
    $('end-text').textContent = screen.text(facts);
    $('btn-rejoin').textContent = screen.again;
  }
}

/** The URL path is the state: history entries are views, the room code comes from the path. */
export class Router {
  constructor({ onRoom, onHome }) {
    this.onRoom = onRoom; // (code) on /<code>
    this.onHome = onHome; // (invalid) on / or a path that is no room code
    this.code = null; // the room of the last room path
  }

  get inviteUrl() { return `${location.origin}/${this.code}`; }

  navigate(path) {
    history.pushState(null, '', path + location.search);
    this.render();
  }

  render() {
    const r = route(location.pathname);
    if (r.view !== 'room') {
      this.onHome(r.view === 'invalid');
      return;
    }
    this.code = r.code;
    if (location.pathname !== `/${r.code}`) history.replaceState(null, '', `/${r.code}${location.search}`);
    this.onRoom(r.code);
  }
}
