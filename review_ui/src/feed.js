// The scoped notification feed (GET /api/notifications/stream): calls `onChange` (debounced) on the kinds asked
// for; the browser's EventSource reconnects by itself. `live` says whether the stream is connected.
import { onBeforeUnmount, onMounted, ref } from "vue";

export function useFeed(kinds, onChange, { debounceMs = 300, pollMs = 30000 } = {}) {
  const live = ref(false);
  let source = null;
  let timer = null;
  let poll = null;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  onMounted(() => {
    source = new EventSource("/api/notifications/stream");
    source.onopen = () => { live.value = true; };
    source.onerror = () => { live.value = false; };
    kinds.forEach((k) => source.addEventListener(k, fire));
    poll = setInterval(() => { if (!live.value) onChange(); }, pollMs);
  });
  onBeforeUnmount(() => {
    if (source) source.close();
    clearTimeout(timer);
    clearInterval(poll);
  });
  return { live };
}
