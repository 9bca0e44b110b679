// Pinhole app entry: builds one object per concern and wires them together. Test/debug
// handle: window.pinhole ({call, media, timeline, version}).
//
//   prefs.js     remembered settings          views.js     views, routing, end screens
//   home.js      the home view                prejoin.js   the pre-join view
//   devices.js   local media, device pickers  controls.js  media toggles, keyboard shortcuts
//   panel.js     the call's side panel        callview.js  the call view
//   invite.js    invite link                  wakelock.js  screen wake lock
//
// DOM contract: body[data-view], body[data-signaling] (idle|connecting|open|reconnecting|
// closed|full|invalid) + body[data-signaling-detail], body[data-peer-id] (own id, also
// #self-tile[data-self-id]); remote tiles .tile[data-peer-id][data-state][data-path]
// [data-muted][data-camera-off][data-screen]; chat in #chat-log.

import { $, indexIds, notice } from './ui.js';
import { Preferences } from './prefs.js';
import { Views, Router } from './views.js';
import { Home } from './home.js';
import { Prejoin } from './prejoin.js';
import { LocalDevices } from './devices.js';
import { Controls } from './controls.js';
import { SidePanel } from './panel.js';
import { Invite } from './invite.js';
import { ScreenWakeLock } from './wakelock.js';
import { CallView } from './callview.js';
import { timeline } from './timeline.js';

indexIds();

const prefs = new Preferences();
const views = new Views();
const router = new Router({
  onRoom: (code) => prejoin.enter(code),
  onHome: (invalid) => {
    prejoin.leave();
    devices.stop();
    home.show(invalid);
  },
});
const devices = new LocalDevices({ prefs, onRelayOnly: (on) => callView.call?.setRelayOnly(on) });
const panel = new SidePanel({
  onOpen: {
    diag: () => callView.diag?.render(),
    settings: () => devices.refresh(),
  },
});
const callView = new CallView({ views, devices, panel, invite: new Invite(() => router.inviteUrl), wakeLock: new ScreenWakeLock() });
const home = new Home({ views, prefs, navigate: (path) => router.navigate(path) });
const prejoin = new Prejoin({ views, prefs, devices, onJoin: (name, ice) => callView.join(router.code, name, ice) });
new Controls({ devices, panel, views });

$('notice-close').addEventListener('click', () => notice(null));
$('btn-rejoin').addEventListener('click', () => prejoin.enter(router.code));
$('btn-home').addEventListener('click', (e) => {
  e.preventDefault();
  router.navigate('/');
});
addEventListener('popstate', () => {
  callView.leave({ quiet: true });
  router.render();
});
// Closing the tab is a hang-up: the others see us leave at once, not after the grace period.
addEventListener('pagehide', () => callView.call?.leave());

window.pinhole = {
  get call() { return callView.call; },
  get media() { return devices.media; },
  timeline,
  version: 1,
};
router.render();
